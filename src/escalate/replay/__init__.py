"""Replay: the engine driven over stored conversations, then metrics against labels.

``open_conversations`` reads JSON Lines or CSV (gzip or not), :class:`Inputs` many such
files, globs and folders as one stream; :class:`Runner` replays them through a policy on
every core or on a Ray cluster; :func:`compute_metrics` measures deflection, escalation,
accuracy against labels, timing and cost; :func:`compare` and :func:`sweep` put policies
and thresholds side by side; :func:`write_report` writes the HTML report.
"""

from escalate.replay.compare import Change, Comparison, compare
from escalate.replay.metrics import (
    MetricsAccumulator,
    compute_metrics,
    gt_score,
    recall_at_rate,
    roc_auc,
)
from escalate.replay.readers import (
    CsvOptions,
    Inputs,
    Record,
    expand_inputs,
    iter_csv,
    iter_jsonl,
    open_conversations,
    read_jsonl,
)
from escalate.replay.report import write_json, write_report
from escalate.replay.runner import (
    ConversationResult,
    Runner,
    TurnOutcome,
    collect,
    escalation_score,
)
from escalate.replay.sweep import SweepPoint, Threshold, policy_variant, simulate, sweep

__all__ = [
    "Change",
    "Comparison",
    "ConversationResult",
    "CsvOptions",
    "Inputs",
    "MetricsAccumulator",
    "Record",
    "Runner",
    "SweepPoint",
    "Threshold",
    "TurnOutcome",
    "collect",
    "compare",
    "compute_metrics",
    "escalation_score",
    "expand_inputs",
    "gt_score",
    "iter_csv",
    "iter_jsonl",
    "open_conversations",
    "policy_variant",
    "read_jsonl",
    "recall_at_rate",
    "roc_auc",
    "simulate",
    "sweep",
    "write_json",
    "write_report",
]
