"""The contract between the engine and any affect model.

An affect model scores user messages: sentiment (negative / neutral / positive), the 28
GoEmotions emotions, the probability that the customer is asking for a human and, for a
model that reads context, the probability that the customer is dissatisfied with how they
are being served and that they are in a vulnerable situation (distress). The engine only
depends on :class:`AffectModel`; the shipped ONNX model is one implementation, and a test
double or a team's own model is another.

A model that reads what came before a message also implements
:class:`ContextualAffectModel`: the engine then passes, with each customer message, the
bot's previous message and the customer's previous message (a :class:`MessageContext`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CONTEXT_HEADS",
    "EMOTION_GROUPS",
    "EMOTION_LABELS",
    "SENTIMENT_LABELS",
    "AffectModel",
    "AffectScores",
    "ContextualAffectModel",
    "EncodingAffectModel",
    "MessageContext",
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

#: The heads that read a message together with what came before it.
CONTEXT_HEADS: tuple[str, ...] = ("human_request", "dissatisfaction", "distress")

#: Emotion groups a contact centre acts on; each group's score is the highest of its members.
EMOTION_GROUPS: dict[str, tuple[str, ...]] = {
    "frustration": ("anger", "annoyance", "disappointment", "disapproval", "disgust"),
    "confusion": ("confusion",),
    "distress": ("sadness", "fear", "nervousness", "grief", "remorse"),
    "gratitude": ("gratitude", "relief", "admiration"),
}


class AffectScores(BaseModel):
    """Scores for one text; every value is a probability in [0, 1].

    ``dissatisfaction`` and ``distress`` are ``None`` for a model without those heads.

    Examples
    --------
    >>> s = AffectScores(sentiment={"negative": 0.8, "neutral": 0.15, "positive": 0.05},
    ...                  emotions={"anger": 0.7}, human_request=0.1, dissatisfaction=0.9)
    >>> signals = affect_signals(s)
    >>> round(signals["mood.frustration"], 2), signals["dissatisfaction"], signals["distress"]
    (0.7, 0.9, None)
    """

    model_config = ConfigDict(frozen=True)

    sentiment: dict[str, float]
    emotions: dict[str, float]
    human_request: float = Field(ge=0.0, le=1.0)
    dissatisfaction: float | None = Field(default=None, ge=0.0, le=1.0)
    distress: float | None = Field(default=None, ge=0.0, le=1.0)
    emotion_labels: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MessageContext:
    """What came just before a customer's message: the bot's previous message and the
    customer's previous message (``None`` where there is none, or it had no text).

    Examples
    --------
    >>> MessageContext(bot="Refunds take 5-7 days.").user is None
    True

    ``bot_encoding`` and ``user_encoding`` are what an :class:`EncodingAffectModel` made
    of those messages when it met them (opaque bytes, kept in the conversation's state),
    so that it need not encode them again; two contexts with the same messages are equal
    whether or not they carry encodings.
    """

    bot: str | None = None
    user: str | None = None
    bot_encoding: bytes | None = field(default=None, compare=False, repr=False)
    user_encoding: bytes | None = field(default=None, compare=False, repr=False)


@runtime_checkable
class AffectModel(Protocol):
    """Anything that scores a batch of texts.

    ``predict`` must return one :class:`AffectScores` per input text, in order, and must be
    safe to call from several threads at once.
    """

    def predict(self, texts: Sequence[str]) -> list[AffectScores]: ...


@runtime_checkable
class ContextualAffectModel(AffectModel, Protocol):
    """An affect model that reads each message with what came before it.

    ``predict_in_context`` scores ``texts[i]`` in the context ``contexts[i]`` (``None``:
    no context). ``prepare`` is told each bot message as it is sent, so that a model that
    encodes messages one by one can do so before the customer answers (it may do nothing).
    """

    def predict_in_context(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> list[AffectScores]: ...

    def prepare(self, texts: Sequence[str]) -> None: ...


@runtime_checkable
class EncodingAffectModel(ContextualAffectModel, Protocol):
    """A context model whose encoding of a message can be kept and handed back.

    ``predict_encoded`` scores like ``predict_in_context`` and also returns each message's
    encoding; ``encode`` encodes messages without scoring them (the bot's, as they are
    sent). The engine keeps the encodings of the latest bot and customer messages in the
    conversation's state and passes them back in :class:`MessageContext`, so a customer
    turn costs one encoder call, on whichever worker it lands, cache or no cache. An
    encoding is ``None`` where the model has none to give; one the model cannot read
    back (another model's) must be ignored and the message encoded again.
    """

    def predict_encoded(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> tuple[list[AffectScores], list[bytes | None]]: ...

    def encode(self, texts: Sequence[str]) -> list[bytes | None]: ...


def affect_signals(scores: AffectScores) -> dict[str, float | None]:
    """Flatten one text's scores into named policy signals (``None``: the model has no
    such head)."""
    out: dict[str, float | None] = {
        f"sentiment.{k}": float(scores.sentiment.get(k, 0.0)) for k in SENTIMENT_LABELS
    }
    for label in EMOTION_LABELS:
        out[f"emotion.{label}"] = float(scores.emotions.get(label, 0.0))
    for group, members in EMOTION_GROUPS.items():
        out[f"mood.{group}"] = max(float(scores.emotions.get(m, 0.0)) for m in members)
    out["human_request"] = float(scores.human_request)
    out["dissatisfaction"] = scores.dissatisfaction
    out["distress"] = scores.distress
    return out
