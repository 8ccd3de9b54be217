"""The engine's way to its contact history: guarded reads, queued writes, contact records.

:class:`HistoryGateway` stands between the engine and a
:class:`~escalate.stores.history.HistoryStore`:

- **reads** go through a circuit breaker: after a read fails because the store is down
  or slow, reads are refused for a few seconds (by the engine's clock), so a dead store
  costs one timeout rather than one per turn;
- **writes** go through a bounded outbox: a contact the store cannot take now waits in
  memory (newest record per conversation, at most ``capacity``; beyond that the oldest
  are dropped with an error in the log) and is retried with every later write. Contacts
  still queued already count for reads, so a customer's next conversation sees them. A
  batch the store refuses for another reason than an outage is written one contact at
  a time, so one bad record is dropped (with an error in the log) and the rest written.

:func:`contact_record` turns a conversation's state into the record that is written.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TypeVar

from escalate.engine.state import SessionState
from escalate.errors import StoreError
from escalate.models import MAX_TEXT_CHARS, ContactRecord, Outcome
from escalate.stores.history import HistoryStore

__all__ = ["HistoryGateway", "contact_record", "is_outage"]

_log = logging.getLogger("escalate")

#: How long reads are refused after one failed because the store was down.
RETRY_AFTER = timedelta(seconds=5)
#: Contacts kept in memory while the history store cannot take them.
CAPACITY = 10_000

Clock = Callable[[], datetime]
_T = TypeVar("_T")


class HistoryGateway:
    """A history store as the engine uses it: reads behind a circuit breaker, writes
    through a bounded outbox. It is itself a :class:`~escalate.stores.history.HistoryStore`.

    Parameters
    ----------
    store:
        The store behind the gateway.
    clock:
        The engine's clock; the circuit breaker measures its pause with it.
    retry_after:
        How long reads are refused after a read failed because the store was down.
    capacity:
        Most contacts kept while the store cannot take them.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from escalate.stores.history import MemoryHistoryStore
    >>> when = datetime(2026, 5, 1, tzinfo=UTC)
    >>> gateway = HistoryGateway(MemoryHistoryStore(), clock=lambda: when)
    >>> gateway.record(ContactRecord(customer_id="u1", conversation_id="c1",
    ...                              started_at=when, outcome="resolved"))
    >>> gateway.pending, gateway.get("c1").outcome
    (0, 'resolved')
    """

    def __init__(
        self,
        store: HistoryStore,
        *,
        clock: Clock,
        retry_after: timedelta = RETRY_AFTER,
        capacity: int = CAPACITY,
    ) -> None:
        self.store = store
        self.clock = clock
        self.retry_after = retry_after
        self.capacity = capacity
        self._pending: OrderedDict[str, ContactRecord] = OrderedDict()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._closed_until: datetime | None = None
        self._last_error = ""
        self._rejected = 0

    # -- reads ----------------------------------------------------------------------------
    def _read(self, read: Callable[[], _T]) -> _T:
        with self._lock:
            closed_until, last_error = self._closed_until, self._last_error
        if closed_until is not None and self.clock() < closed_until:
            raise StoreError(f"unavailable, retrying shortly ({last_error})")
        try:
            return read()
        except Exception as exc:
            if is_outage(exc):
                with self._lock:
                    self._closed_until = self.clock() + self.retry_after
                    self._last_error = f"{type(exc).__name__}: {exc}"
            raise

    def _queued_for(self, customer_id: str) -> list[ContactRecord]:
        with self._lock:
            return [c for c in self._pending.values() if c.customer_id == customer_id]

    def recent(
        self, customer_id: str, *, since: datetime, until: datetime, limit: int = 500
    ) -> list[ContactRecord]:
        """The store's :meth:`~escalate.stores.history.HistoryStore.recent`, with the
        customer's queued contacts in place of their stored versions."""
        found = self._read(
            lambda: self.store.recent(customer_id, since=since, until=until, limit=limit)
        )
        queued = self._queued_for(customer_id)
        if queued:
            ids = {c.conversation_id for c in queued}
            found = [c for c in found if c.conversation_id not in ids] + queued
        return found

    def last_contact_at(self, customer_id: str, *, before: datetime) -> datetime | None:
        """The store's :meth:`~escalate.stores.history.HistoryStore.last_contact_at`."""
        return self._read(lambda: self.store.last_contact_at(customer_id, before=before))

    def get(self, conversation_id: str) -> ContactRecord | None:
        """The record of one conversation: the queued one if it waits, else the stored one."""
        with self._lock:
            queued = self._pending.get(conversation_id)
        return queued if queued is not None else self.store.get(conversation_id)

    # -- writes ---------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Contacts waiting to be written."""
        with self._lock:
            return len(self._pending)

    @property
    def rejected(self) -> int:
        """Contacts dropped because the store refused them on their own, for a reason
        other than an outage, while it took others (each logged as an error)."""
        with self._lock:
            return self._rejected

    def record(self, contact: ContactRecord) -> None:
        """Queue ``contact`` and write everything queued; never raises (a failure is
        logged and the contacts wait for the next write)."""
        self.record_many([contact])

    def record_many(self, contacts: Iterable[ContactRecord]) -> int:
        """:meth:`record` for many contacts; returns how many were queued."""
        count = 0
        with self._lock:
            for contact in contacts:
                count += 1
                self._pending[contact.conversation_id] = contact
                self._pending.move_to_end(contact.conversation_id)
            while len(self._pending) > self.capacity:
                dropped, _ = self._pending.popitem(last=False)
                _log.error("history store: queue full, contact %s dropped", dropped)
        error = self._write()
        if error is not None:
            _log.warning("history store: %d contacts queued: %s", self.pending, error)
        return count

    def flush(self) -> int:
        """Write what waits; returns how many contacts still wait."""
        error = self._write()
        if error is not None:
            _log.warning("history store: %d contacts still queued: %s", self.pending, error)
        return self.pending

    def _write(self) -> str | None:
        """Write what waits; the error text when the store failed (what was not written
        stays queued).

        A batch that fails for another reason than an outage is written again one
        contact at a time, so one bad record does not hold back the others. A contact
        refused on its own while others of the same pass were written is a bad record: it
        is dropped with an error in the log and counted in :attr:`rejected`. When every
        contact is refused, the fault is the store's, not a record's: they all stay.
        """
        with self._flush_lock:
            with self._lock:
                batch = list(self._pending.values())
            if not batch:
                return None
            try:
                self.store.record_many(batch)
            except Exception as exc:
                if is_outage(exc) or len(batch) == 1:
                    return f"{type(exc).__name__}: {exc}"
                return self._write_each(batch)
            self._written(batch)
            return None

    def _write_each(self, batch: list[ContactRecord]) -> str | None:
        """Write ``batch`` one contact at a time (see :meth:`_write`)."""
        refused: list[tuple[ContactRecord, Exception]] = []
        written = 0
        for contact in batch:
            try:
                self.store.record_many([contact])
            except Exception as exc:
                if is_outage(exc):
                    return f"{type(exc).__name__}: {exc}"
                refused.append((contact, exc))
                continue
            self._written([contact])
            written += 1
        if refused and not written:
            first = refused[0][1]
            return f"{type(first).__name__}: {first}"
        for contact, error in refused:
            with self._lock:
                if self._pending.get(contact.conversation_id) is not contact:
                    continue  # replaced by a newer record meanwhile: that one is tried next
                del self._pending[contact.conversation_id]
                self._rejected += 1
            _log.error(
                "history store: contact %s refused, dropped: %s: %s",
                contact.conversation_id,
                type(error).__name__,
                error,
            )
        return None

    def _written(self, batch: list[ContactRecord]) -> None:
        with self._lock:
            for contact in batch:
                if self._pending.get(contact.conversation_id) is contact:
                    del self._pending[contact.conversation_id]

    def close(self) -> None:
        """Write what waits, then close the store; never raises."""
        self.flush()
        try:
            self.store.close()
        except Exception as exc:  # closing must not raise at shutdown
            _log.warning("closing %r failed: %s", self.store, exc)


#: Exception classes (by name, so no driver need be imported) that mean the store cannot
#: be reached or is too slow: DB-API / SQLAlchemy ``OperationalError`` and
#: ``InterfaceError``, SQLAlchemy's ``DisconnectionError``, redis's ``ConnectionError``
#: and ``TimeoutError`` (and any subclass of these, such as redis's ``BusyLoadingError``
#: or psycopg's ``ConnectionTimeout``).
_OUTAGE_NAMES = frozenset(
    {"OperationalError", "InterfaceError", "DisconnectionError", "TimeoutError", "ConnectionError"}
)


def is_outage(exc: BaseException) -> bool:
    """A store that cannot be reached or is too slow, as opposed to one bad record.

    ``exc`` and the exceptions it was raised from (its ``__cause__``, else an unsuppressed
    ``__context__``) are looked at: an :class:`OSError` or :class:`TimeoutError`, or an
    exception of a class, or a subclass of a class, named in ``_OUTAGE_NAMES``.

    Examples
    --------
    >>> is_outage(ConnectionRefusedError()), is_outage(ValueError("bad record"))
    (True, False)
    """
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        if isinstance(seen, OSError | TimeoutError):  # ConnectionError is an OSError
            return True
        if any(cls.__name__ in _OUTAGE_NAMES for cls in type(seen).__mro__):
            return True
        cause = seen.__cause__
        if cause is None and not seen.__suppress_context__:
            cause = seen.__context__
        seen = cause
    return False


def contact_record(state: SessionState, outcome: Outcome, clock: Clock) -> ContactRecord | None:
    """The history record of a conversation, or ``None`` without a customer id.

    The contact ends at the timestamp of its last turn that has one, and only without
    any at the ``clock``'s time: a replay of last year's conversations records last
    year's contacts, so the windows of the ``history.*`` signals count them right.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from escalate.models import Turn
    >>> nine = datetime(2025, 5, 1, 9, tzinfo=UTC)
    >>> state = SessionState(conversation_id="c1", customer_id="u1", started_at=nine,
    ...                      turns=(Turn(role="user", text="hi", timestamp=nine),))
    >>> contact_record(state, "resolved", lambda: datetime(2026, 1, 1, tzinfo=UTC)).ended_at.year
    2025
    """
    if state.customer_id is None:
        return None
    sentiment: float | None = None
    for scores in reversed(state.user_affect):
        if scores is not None:
            positive = scores.sentiment.get("positive", 0.0)
            negative = scores.sentiment.get("negative", 0.0)
            sentiment = max(-1.0, min(1.0, positive - negative))
            break
    text = state.topic_text
    if text is None:
        text = next((t.text for t in state.turns if t.role == "user" and t.text), None)
    ended = next((t.timestamp for t in reversed(state.turns) if t.timestamp), None) or clock()
    started = state.started_at or next((t.timestamp for t in state.turns if t.timestamp), ended)
    return ContactRecord(
        customer_id=state.customer_id,
        conversation_id=state.conversation_id,
        started_at=started,
        ended_at=max(ended, started),
        channel=state.channel,
        topic=state.topic,
        outcome=outcome,
        final_sentiment=sentiment,
        text=text[:MAX_TEXT_CHARS] if text else None,
    )
