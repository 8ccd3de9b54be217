"""Where per-conversation state is kept between turns.

The engine loads a conversation's :class:`~escalate.engine.state.SessionState` before
each turn and saves the next state after it; a store only keeps it. The default
:class:`MemorySessionStore` keeps states in this process; a store shared by several
workers (:class:`~escalate.stores.redis.RedisSessionStore`) implements the same
:class:`SessionStore` protocol.

Concurrent turns of one conversation never lose an update: the engine saves with
:meth:`SessionStore.save_if`, a compare-and-set on ``SessionState.version``, and when
another worker saved first it loads the newer state and runs the turn again.
``save_if`` is the contract: the engine refuses a store without it rather than fall back
to a plain save that could overwrite another worker's turn.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from typing import Protocol, runtime_checkable

from escalate.engine.state import SessionState
from escalate.errors import InputError

__all__ = [
    "SESSION_URL_ENV",
    "MemorySessionStore",
    "SessionStore",
    "open_session_store",
]

#: The environment variable naming the session store when the engine is given none.
SESSION_URL_ENV = "ESCALATE_SESSION_URL"


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
            raise InputError(
                f"must be a positive number or None, got {ttl_seconds!r}", field="ttl_seconds"
            )
        if max_sessions is not None and max_sessions < 1:
            raise InputError(
                f"must be a positive integer or None, got {max_sessions!r}", field="max_sessions"
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
    InputError
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
        raise InputError(f"must be a URL, a SessionStore or None, got {url!r}", field="url")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemorySessionStore(**options)  # type: ignore[arg-type]
    if scheme in ("redis", "rediss", "unix"):
        from escalate.stores.redis import RedisSessionStore

        return RedisSessionStore(url, **options)  # type: ignore[arg-type]
    raise InputError(f"must start with memory:// or redis://, got {url!r}", field="url")
