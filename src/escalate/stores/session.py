"""Per-conversation state between turns, and where it is kept.

The engine loads a conversation's :class:`SessionState` before each turn and saves the
next state after it. The default :class:`MemorySessionStore` keeps states in this
process; a store shared by several workers (:class:`~escalate.stores.redis.RedisSessionStore`)
implements the same :class:`SessionStore` protocol.

Concurrent turns of one conversation never lose an update: the engine saves with
:meth:`SessionStore.save_if`, a compare-and-set on :attr:`SessionState.version`, and when
another worker saved first it loads the newer state and runs the turn again.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from escalate.affect.base import AffectScores
from escalate.errors import EscalateError
from escalate.models import Action, Outcome, Turn
from escalate.signals.dialogue import DialogueState

__all__ = [
    "SESSION_URL_ENV",
    "MemorySessionStore",
    "SessionState",
    "SessionStore",
    "open_session_store",
]

#: The environment variable naming the session store when the engine is given none.
SESSION_URL_ENV = "ESCALATE_SESSION_URL"


class SessionState(BaseModel):
    """Everything the engine remembers about one conversation.

    ``version`` grows by one with every saved turn, so a store shared by several
    workers can detect a concurrent update. ``customer`` holds the caller's customer
    attributes as signal values; ``history`` the history signals computed when the
    conversation started (and again when its topic became known), ``None`` until then.
    ``topic`` is what the conversation is about (see :mod:`escalate.signals.history`),
    and ``outcome`` how it ended so far, as last recorded in the history.

    Examples
    --------
    >>> state = SessionState(conversation_id="c1", customer_id="u9")
    >>> state.version, state.handed_off, len(state.turns)
    (0, False, 0)
    """

    model_config = ConfigDict(frozen=True)

    conversation_id: str
    customer_id: str | None = None
    channel: str = "chat"
    version: int = 0
    turns: tuple[Turn, ...] = ()
    dialogue: DialogueState = Field(default_factory=DialogueState)
    series: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    #: The affect scores of each user turn, in order (``None`` where a turn had no text or
    #: the model failed).
    user_affect: tuple[AffectScores | None, ...] = ()
    last_escalation_action: Action | None = None
    last_escalation_user_turn: int | None = None
    handed_off: bool = False
    started_at: datetime | None = None
    customer: dict[str, float] = Field(default_factory=dict)
    topic: str | None = None
    topic_source: str | None = None
    topic_text: str | None = None
    history: dict[str, float | None] | None = None
    history_error: str | None = None
    outcome: Outcome | None = None


@runtime_checkable
class SessionStore(Protocol):
    """Where session states live between turns. Implementations must be thread-safe."""

    def load(self, conversation_id: str) -> SessionState | None:
        """The saved state, or ``None`` for a conversation never seen (or expired)."""
        ...

    def save(self, state: SessionState) -> None:
        """Save ``state``, replacing any earlier state of the same conversation. A store
        shared by several workers may refuse, with a
        :class:`~escalate.errors.StoreError`, to replace a state of a higher version."""
        ...

    def save_if(self, state: SessionState, expected_version: int) -> bool:
        """Save ``state`` only if the saved state's version is ``expected_version`` (0 when
        there is none); return whether it was saved. Atomic: the compare-and-set that
        keeps concurrent workers from losing each other's turns."""
        ...

    def delete(self, conversation_id: str) -> None:
        """Forget a conversation; deleting an unknown one is not an error."""
        ...


class MemorySessionStore:
    """Session states in this process's memory, with an optional time-to-live and size cap.

    Parameters
    ----------
    ttl_seconds:
        Forget a conversation this long after its last saved turn; ``None`` keeps it.
    max_sessions:
        Forget the least recently saved conversation beyond this many.

    Examples
    --------
    >>> store = MemorySessionStore()
    >>> store.save(SessionState(conversation_id="c1"))
    >>> store.load("c1").conversation_id, store.load("nope")
    ('c1', None)
    """

    def __init__(
        self, *, ttl_seconds: float | None = None, max_sessions: int | None = 100_000
    ) -> None:
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be a positive number or None, got {ttl_seconds!r}")
        if max_sessions is not None and max_sessions < 1:
            raise ValueError(
                f"max_sessions must be a positive integer or None, got {max_sessions!r}"
            )
        self.ttl_seconds = ttl_seconds
        self.max_sessions = max_sessions
        self._states: OrderedDict[str, tuple[float, SessionState]] = OrderedDict()
        self._lock = threading.RLock()

    def load(self, conversation_id: str) -> SessionState | None:
        with self._lock:
            entry = self._states.get(conversation_id)
            if entry is None:
                return None
            saved_at, state = entry
            if self.ttl_seconds is not None and time.monotonic() - saved_at > self.ttl_seconds:
                del self._states[conversation_id]
                return None
            return state

    def save(self, state: SessionState) -> None:
        with self._lock:
            self._states[state.conversation_id] = (time.monotonic(), state)
            self._states.move_to_end(state.conversation_id)
            while self.max_sessions is not None and len(self._states) > self.max_sessions:
                self._states.popitem(last=False)

    def save_if(self, state: SessionState, expected_version: int) -> bool:
        with self._lock:
            current = self.load(state.conversation_id)
            if (current.version if current is not None else 0) != expected_version:
                return False
            self.save(state)
            return True

    def delete(self, conversation_id: str) -> None:
        with self._lock:
            self._states.pop(conversation_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)


def open_session_store(url: str | None = None, **options: object) -> SessionStore:
    """A session store for a URL, or from ``ESCALATE_SESSION_URL`` when ``url`` is ``None``.

    ``memory://`` (and no URL at all) keeps sessions in this process;
    ``redis://host:6379/0`` (or ``rediss://``, ``unix://``) shares them through Redis (the
    ``redis`` extra). ``options`` go to the store's constructor.

    Raises
    ------
    EscalateError
        The URL names no supported backend.
    MissingExtraError
        The backend's driver is not installed.

    Examples
    --------
    >>> type(open_session_store("memory://")).__name__
    'MemorySessionStore'
    """
    if url is None:
        url = os.environ.get(SESSION_URL_ENV) or "memory://"
    if not isinstance(url, str) or not url:
        raise EscalateError(f"sessions must be a URL, a SessionStore or None, got {url!r}")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemorySessionStore(**options)  # type: ignore[arg-type]
    if scheme in ("redis", "rediss", "unix"):
        from escalate.stores.redis import RedisSessionStore

        return RedisSessionStore(url, **options)  # type: ignore[arg-type]
    raise EscalateError(f"session URL must start with memory:// or redis://, got {url!r}")
