"""Affect: how the customer feels and whether they ask for a human."""

from escalate.affect.base import (
    EMOTION_GROUPS,
    EMOTION_LABELS,
    SENTIMENT_LABELS,
    AffectModel,
    AffectScores,
    affect_signals,
)
from escalate.affect.onnx import OnnxAffectModel, default_model

__all__ = [
    "EMOTION_GROUPS",
    "EMOTION_LABELS",
    "SENTIMENT_LABELS",
    "AffectModel",
    "AffectScores",
    "OnnxAffectModel",
    "affect_signals",
    "default_model",
]
