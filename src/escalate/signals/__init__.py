"""Signals: pure functions from conversation state to named numbers a policy can test."""

from escalate.signals.catalog import CATALOG, SignalSpec
from escalate.signals.dialogue import DialogueAnalyzer, DialogueConfig, DialogueState
from escalate.signals.trajectory import TrajectoryConfig, trajectory_signals

__all__ = [
    "CATALOG",
    "DialogueAnalyzer",
    "DialogueConfig",
    "DialogueState",
    "SignalSpec",
    "TrajectoryConfig",
    "trajectory_signals",
]
