"""Affect: how the customer feels, whether they ask for a human, whether they are unhappy
with the service or in a vulnerable situation.

The contract (:mod:`escalate.affect.base`) is light; the ONNX runtime
(:mod:`escalate.affect.onnx`: ONNX Runtime, tokenizers, numpy) loads on first use of
:class:`OnnxAffectModel` or :func:`default_model`.
"""

from typing import TYPE_CHECKING, Any

from escalate.affect.base import (
    CONTEXT_HEADS,
    EMOTION_GROUPS,
    EMOTION_LABELS,
    SENTIMENT_LABELS,
    AffectModel,
    AffectScores,
    ContextualAffectModel,
    MessageContext,
    affect_signals,
)

if TYPE_CHECKING:
    from escalate.affect.onnx import OnnxAffectModel, default_model

__all__ = [
    "CONTEXT_HEADS",
    "EMOTION_GROUPS",
    "EMOTION_LABELS",
    "SENTIMENT_LABELS",
    "AffectModel",
    "AffectScores",
    "ContextualAffectModel",
    "MessageContext",
    "OnnxAffectModel",
    "affect_signals",
    "default_model",
]


def __getattr__(name: str) -> Any:
    """Load the ONNX runtime on first use."""
    if name in ("OnnxAffectModel", "default_model"):
        from escalate.affect import onnx

        return getattr(onnx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
