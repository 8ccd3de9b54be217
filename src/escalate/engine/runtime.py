"""What an engine shares with its sessions: the compiled policy, the model, the stores,
the clock, the queue of turns the session store could not take yet and the
per-conversation locks.

The :class:`~escalate.engine.Engine` façade builds one :class:`Runtime` and hands it to
every :class:`~escalate.engine.Session` it creates; neither looks inside the other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from escalate.affect.base import (
    AffectModel,
    AffectScores,
    ContextualAffectModel,
    EncodingAffectModel,
    MessageContext,
)
from escalate.affect.embedding import TextEmbedder
from escalate.engine.history import HistoryGateway
from escalate.engine.pending import TurnQueue
from escalate.engine.step import Compiled, affect_failure
from escalate.models import Failure
from escalate.signals.history import HistoryLookup
from escalate.stores.session import SessionStore

__all__ = ["Runtime"]

_log = logging.getLogger("escalate")

#: Locks shared out among conversations; more stripes, fewer unrelated waits.
LOCK_STRIPES = 256


@dataclass(eq=False)
class Runtime:
    """The parts of an engine that its sessions use.

    ``compiled`` is replaced as one reference when the policy is reloaded; a turn reads
    it once and finishes under the policy it started with.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from escalate.affect.embedding import HashingEmbedder
    >>> from escalate.engine.step import compile_policy
    >>> from escalate.policy import load_policy
    >>> from escalate.stores.session import MemorySessionStore
    >>> runtime = Runtime(compile_policy(load_policy("dialogue_only", affect=False)),
    ...                   affect=None, sessions=MemorySessionStore(), history=None,
    ...                   embedder=HashingEmbedder(), topic_similarity=0.3,
    ...                   clock=lambda: datetime(2026, 5, 1, tzinfo=UTC))
    >>> runtime.score(["hello"])
    ([], None)
    """

    compiled: Compiled
    affect: AffectModel | None
    sessions: SessionStore
    history: HistoryGateway | None
    embedder: TextEmbedder
    topic_similarity: float
    clock: Callable[[], datetime]
    #: Turns the session store could not take yet (see :mod:`escalate.engine.pending`).
    pending: TurnQueue = field(default_factory=TurnQueue)
    # Striped locks: turns of one conversation are serialised, memory stays bounded.
    locks: tuple[threading.Lock, ...] = field(
        default_factory=lambda: tuple(threading.Lock() for _ in range(LOCK_STRIPES))
    )

    def __post_init__(self) -> None:
        # What the model can do, checked once: isinstance against a Protocol inspects
        # the object's attributes on every call, which a turn should not pay for.
        self._contextual: ContextualAffectModel | None = (
            self.affect if isinstance(self.affect, ContextualAffectModel) else None
        )
        self._encoding: EncodingAffectModel | None = (
            self.affect if isinstance(self.affect, EncodingAffectModel) else None
        )

    def lock_for(self, conversation_id: str) -> threading.Lock:
        """The lock that serialises the turns of ``conversation_id`` in this process."""
        return self.locks[hash(conversation_id) % len(self.locks)]

    def lookup(self) -> HistoryLookup | None:
        """The history lookup for a live turn, through the gateway; ``None`` without history."""
        if self.history is None:
            return None
        return HistoryLookup(self.history, self.embedder, self.topic_similarity)

    @property
    def reads_context(self) -> bool:
        """True when the affect model scores a message with the messages before it."""
        return self._contextual is not None

    def score(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None] | None = None
    ) -> tuple[list[AffectScores], Failure | None]:
        """The affect scores of ``texts`` (each read with ``contexts[i]`` when the model
        reads context), or none and the failure when the model failed (a failing model
        must never crash the caller's bot)."""
        if self.affect is None or not texts:
            return [], None
        try:
            if self._contextual is not None:
                given = list(contexts) if contexts is not None else [None] * len(texts)
                scores = self._contextual.predict_in_context(list(texts), given)
            else:
                scores = self.affect.predict(list(texts))
            if len(scores) != len(texts):
                raise ValueError(
                    f"the affect model returned {len(scores)} scores for {len(texts)} texts"
                )
            return scores, None
        except Exception as exc:
            return [], affect_failure(f"affect model: {type(exc).__name__}: {exc}")

    def score_one(
        self, text: str, context: MessageContext | None
    ) -> tuple[AffectScores | None, bytes | None, Failure | None]:
        """One customer message's scores, its encoding to keep (``None`` when the model
        keeps none) and the failure when the model failed."""
        if self._encoding is None:
            batch, failed = self.score([text], [context])
            return (batch[0] if batch else None), None, failed
        try:
            scores, encodings = self._encoding.predict_encoded([text], [context])
            if len(scores) != 1 or len(encodings) != 1:
                raise ValueError(f"the affect model returned {len(scores)} scores for 1 text")
            return scores[0], encodings[0], None
        except Exception as exc:
            return None, None, affect_failure(f"affect model: {type(exc).__name__}: {exc}")

    def encode(self, text: str) -> bytes | None:
        """A bot message's encoding to keep for the customer's next turn (``None`` when
        the model keeps none: it is then only told the message, see :meth:`prepare`). A
        failure is logged; the customer's next turn encodes the message again."""
        if self._encoding is None:
            self.prepare([text])
            return None
        try:
            (encoding,) = self._encoding.encode([text])
            return encoding
        except Exception as exc:
            _log.warning("affect model: could not encode a bot message: %s", exc)
            return None

    def prepare(self, texts: Sequence[str]) -> None:
        """Let a model that reads context encode the bot's messages as they are sent; a
        failure here is logged, and the customer's next turn meets it again."""
        if self._contextual is not None and texts:
            try:
                self._contextual.prepare(list(texts))
            except Exception as exc:
                _log.warning("affect model: could not prepare a bot message: %s", exc)
