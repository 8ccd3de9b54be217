"""Per-conversation state between turns, and where it is kept.

The engine loads a conversation's :class:`SessionState` before each turn and saves the
next state after it. The default :class:`MemorySessionStore` keeps states in this
process; a store shared by several workers implements the same :class:`SessionStore`
protocol.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from escalate.affect.base import AffectScores
from escalate.models import Action, Turn
from escalate.signals.dialogue import DialogueState

__all__ = ["MemorySessionStore", "SessionState", "SessionStore"]


class SessionState(BaseModel):
    """Everything the engine remembers about one conversation.

    ``version`` grows by one with every saved turn, so a store shared by several
    workers can detect a concurrent update.

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


@runtime_checkable
class SessionStore(Protocol):
    """Where session states live between turns. Implementations must be thread-safe."""

    def load(self, conversation_id: str) -> SessionState | None:
        """The saved state, or ``None`` for a conversation never seen (or expired)."""
        ...

    def save(self, state: SessionState) -> None:
        """Save ``state``, replacing any earlier state of the same conversation."""
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
        self._lock = threading.Lock()

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

    def delete(self, conversation_id: str) -> None:
        with self._lock:
            self._states.pop(conversation_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)
