"""The contract between the engine and any affect model.

An affect model scores user messages: sentiment (negative / neutral / positive), the 28
GoEmotions emotions, and the probability that the customer is asking for a human. The
engine only depends on :class:`AffectModel`; the shipped ONNX model is one
implementation, and a test double or a team's own model is another.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EMOTION_GROUPS",
    "EMOTION_LABELS",
    "SENTIMENT_LABELS",
    "AffectModel",
    "AffectScores",
    "affect_signals",
]

SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

#: The 28 GoEmotions labels, in the dataset's label-id order.
EMOTION_LABELS: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
    "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)  # fmt: skip

#: Emotion groups a contact centre acts on; each group's score is the highest of its members.
EMOTION_GROUPS: dict[str, tuple[str, ...]] = {
    "frustration": ("anger", "annoyance", "disappointment", "disapproval", "disgust"),
    "confusion": ("confusion",),
    "distress": ("sadness", "fear", "nervousness", "grief", "remorse"),
    "gratitude": ("gratitude", "relief", "admiration"),
}


class AffectScores(BaseModel):
    """Scores for one text; every value is a probability in [0, 1].

    Examples
    --------
    >>> s = AffectScores(sentiment={"negative": 0.8, "neutral": 0.15, "positive": 0.05},
    ...                  emotions={"anger": 0.7}, human_request=0.1)
    >>> round(affect_signals(s)["mood.frustration"], 2)
    0.7
    """

    model_config = ConfigDict(frozen=True)

    sentiment: dict[str, float]
    emotions: dict[str, float]
    human_request: float = Field(ge=0.0, le=1.0)
    emotion_labels: list[str] = Field(default_factory=list)


@runtime_checkable
class AffectModel(Protocol):
    """Anything that scores a batch of texts.

    ``predict`` must return one :class:`AffectScores` per input text, in order, and must be
    safe to call from several threads at once.
    """

    def predict(self, texts: Sequence[str]) -> list[AffectScores]: ...


def affect_signals(scores: AffectScores) -> dict[str, float]:
    """Flatten one text's scores into named policy signals."""
    out: dict[str, float] = {
        f"sentiment.{k}": float(scores.sentiment.get(k, 0.0)) for k in SENTIMENT_LABELS
    }
    for label in EMOTION_LABELS:
        out[f"emotion.{label}"] = float(scores.emotions.get(label, 0.0))
    for group, members in EMOTION_GROUPS.items():
        out[f"mood.{group}"] = max(float(scores.emotions.get(m, 0.0)) for m in members)
    out["human_request"] = float(scores.human_request)
    return out
