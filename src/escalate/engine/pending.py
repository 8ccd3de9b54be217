"""Turns observed while the session store could not take them, kept until it can.

When :meth:`Session.observe <escalate.engine.Session.observe>` cannot save a turn (the
session store is down, or fails the save), the turn is answered as the policy's
``on_error`` says and waits here, in this process, with what it was answered. Before
the conversation's next turn, or on :meth:`Session.flush
<escalate.engine.Session.flush>` / :meth:`Engine.flush_sessions
<escalate.engine.Engine.flush_sessions>`, the waiting turns are applied to the saved
state in the order they were observed, and saved with the next turn in one
compare-and-set.

Each turn carries an id that the saved state remembers (:attr:`SessionState.applied
<escalate.engine.state.SessionState.applied>`), so a turn whose save failed on the way
back (the store applied it, the reply was lost) is found there and never applied twice.

The queue is bounded: at most ``capacity`` turns over all conversations; beyond that the
oldest turn of the conversation that has waited longest is dropped, with an error in the
log, and counted in :attr:`TurnQueue.dropped`.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from escalate.affect.base import AffectScores
from escalate.models import Decision, Failure, Turn

__all__ = ["CAPACITY", "PendingTurn", "TurnQueue", "new_turn_id"]

_log = logging.getLogger("escalate")

#: Turns kept in memory, over all conversations, while the session store cannot take them.
CAPACITY = 10_000


def new_turn_id() -> str:
    """A fresh id for one observed turn (64 random bits, as 16 hex digits)."""
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True, eq=False)
class PendingTurn:
    """One observed turn the session store did not take, with what it needs to be applied
    later exactly as it was observed.

    ``scores`` are the affect scores the turn was decided with (the model is not run
    again), ``answered`` the decision the caller received, ``at`` the time the turn was
    decided at, and ``customer_id``, ``channel`` and ``customer`` the session's
    attributes, for a conversation whose state does not exist yet.
    """

    id: str
    turn: Turn
    at: datetime
    answered: Decision
    scores: AffectScores | None = None
    affect_failed: Failure | None = None
    customer_id: str | None = None
    channel: str = "chat"
    customer: dict[str, float] = field(default_factory=dict)


class TurnQueue:
    """Unsaved turns per conversation, in the order they were observed; thread-safe.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> when = datetime(2026, 5, 1, tzinfo=UTC)
    >>> def pending(text):
    ...     return PendingTurn(new_turn_id(), Turn(role="user", text=text), when,
    ...                        Decision(conversation_id="c1", turn=0, action="continue"))
    >>> queue = TurnQueue(capacity=2)
    >>> for text in ("one", "two", "three"):
    ...     queue.add("c1", pending(text))
    >>> [p.turn.text for p in queue.turns("c1")], queue.pending, queue.dropped
    (['two', 'three'], 2, 1)
    """

    def __init__(self, capacity: int = CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self.capacity = capacity
        # conversations in the order their oldest waiting turn was queued
        self._turns: OrderedDict[str, list[PendingTurn]] = OrderedDict()
        self._count = 0
        self._dropped = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Turns waiting, over all conversations."""
        with self._lock:
            return self._count

    @property
    def dropped(self) -> int:
        """Turns dropped because the queue was full, since this queue was made."""
        with self._lock:
            return self._dropped

    def __len__(self) -> int:
        return self.pending

    def conversations(self) -> list[str]:
        """The conversations with turns waiting, the longest waiting first."""
        with self._lock:
            return list(self._turns)

    def turns(self, conversation_id: str) -> list[PendingTurn]:
        """The turns of ``conversation_id`` waiting, oldest first (a copy)."""
        with self._lock:
            return list(self._turns.get(conversation_id, ()))

    def has(self, conversation_id: str) -> bool:
        """True when turns of ``conversation_id`` wait."""
        with self._lock:
            return conversation_id in self._turns

    def add(self, conversation_id: str, turn: PendingTurn) -> None:
        """Queue ``turn`` after the turns of its conversation already waiting; when the
        queue is full, drop the oldest turn of the conversation that waited longest."""
        with self._lock:
            self._turns.setdefault(conversation_id, []).append(turn)
            self._count += 1
            while self._count > self.capacity:
                oldest, turns = next(iter(self._turns.items()))
                dropped = turns.pop(0)
                if not turns:
                    del self._turns[oldest]
                self._count -= 1
                self._dropped += 1
                _log.error(
                    "session store: queue of unsaved turns full (%d), a %s turn of %s "
                    "observed at %s dropped",
                    self.capacity,
                    dropped.turn.role,
                    oldest,
                    dropped.at.isoformat(),
                )

    def remove(self, conversation_id: str, done: Iterable[PendingTurn]) -> int:
        """Forget the turns in ``done`` (applied, or found applied); returns how many of
        the conversation's turns still wait."""
        gone = {id(t) for t in done}
        with self._lock:
            turns = self._turns.get(conversation_id)
            if turns is None:
                return 0
            kept = [t for t in turns if id(t) not in gone]
            self._count -= len(turns) - len(kept)
            if kept:
                self._turns[conversation_id] = kept
            else:
                del self._turns[conversation_id]
            return len(kept)
