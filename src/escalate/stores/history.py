"""Contact history: every earlier conversation of a customer, and how it ended.

:class:`HistoryStore` is the contract; three backends implement it:

- :class:`MemoryHistoryStore` (``memory://``): this process only, for tests and replay;
- :class:`~escalate.stores.sql.SQLHistoryStore` on SQLite (``sqlite:///history.db``, the
  embedded default: the file is created when the first contact is recorded);
- the same class on PostgreSQL (``postgresql+psycopg://user@host/db``, the ``postgres``
  extra).

:func:`open_history_store` turns a URL into a store. Recording is idempotent per
conversation: recording a conversation again replaces its record.
"""

from __future__ import annotations

import threading
from bisect import insort
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from escalate.errors import InputError
from escalate.models import ContactRecord

__all__ = ["HistoryStore", "MemoryHistoryStore", "open_history_store"]


@runtime_checkable
class HistoryStore(Protocol):
    """Where contact records live. Implementations must be thread-safe.

    Times are compared as UTC; a naive ``datetime`` is taken to be UTC.
    """

    def record(self, contact: ContactRecord) -> None:
        """Save a contact, replacing any earlier record of the same conversation."""
        ...

    def record_many(self, contacts: Iterable[ContactRecord]) -> int:
        """Save many contacts at once (same semantics as :meth:`record`); returns how many."""
        ...

    def recent(
        self, customer_id: str, *, since: datetime, until: datetime, limit: int = 500
    ) -> list[ContactRecord]:
        """The customer's contacts started in ``[since, until)``, newest first, at most ``limit``."""
        ...

    def last_contact_at(self, customer_id: str, *, before: datetime) -> datetime | None:
        """When the customer's latest contact started before ``before``, or ``None``."""
        ...

    def get(self, conversation_id: str) -> ContactRecord | None:
        """The record of one conversation, or ``None``."""
        ...

    def close(self) -> None:
        """Release connections; the store may not be used afterwards."""
        ...


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class MemoryHistoryStore:
    """Contact records in this process's memory (``memory://``).

    Parameters
    ----------
    contacts:
        Records to start with (a replay's pre-loaded history, say).

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> store = MemoryHistoryStore()
    >>> when = datetime(2026, 5, 1, 10, tzinfo=UTC)
    >>> store.record(ContactRecord(customer_id="u1", conversation_id="c1",
    ...                            started_at=when, outcome="abandoned"))
    >>> store.record(ContactRecord(customer_id="u1", conversation_id="c1",
    ...                            started_at=when, outcome="resolved"))
    >>> [c.outcome for c in store.recent("u1", since=datetime(2026, 1, 1, tzinfo=UTC),
    ...                                  until=datetime(2027, 1, 1, tzinfo=UTC))]
    ['resolved']
    """

    def __init__(self, contacts: Iterable[ContactRecord] = ()) -> None:
        self._by_conversation: dict[str, ContactRecord] = {}
        self._by_customer: dict[str, list[tuple[datetime, str]]] = {}
        self._lock = threading.Lock()
        self.record_many(contacts)

    def _put(self, contact: ContactRecord) -> None:
        if contact.started_at.tzinfo is None or (
            contact.ended_at is not None and contact.ended_at.tzinfo is None
        ):
            contact = contact.model_copy(
                update={
                    "started_at": _utc(contact.started_at),
                    "ended_at": None if contact.ended_at is None else _utc(contact.ended_at),
                }
            )
        old = self._by_conversation.get(contact.conversation_id)
        if old is not None:
            self._by_customer[old.customer_id].remove((_utc(old.started_at), old.conversation_id))
        self._by_conversation[contact.conversation_id] = contact
        insort(
            self._by_customer.setdefault(contact.customer_id, []),
            (_utc(contact.started_at), contact.conversation_id),
        )

    def record(self, contact: ContactRecord) -> None:
        with self._lock:
            self._put(contact)

    def record_many(self, contacts: Iterable[ContactRecord]) -> int:
        count = 0
        with self._lock:
            for contact in contacts:
                self._put(contact)
                count += 1
        return count

    def recent(
        self, customer_id: str, *, since: datetime, until: datetime, limit: int = 500
    ) -> list[ContactRecord]:
        since, until = _utc(since), _utc(until)
        with self._lock:
            keys = self._by_customer.get(customer_id, [])
            found = [
                self._by_conversation[cid] for when, cid in reversed(keys) if since <= when < until
            ]
        return found[:limit]

    def last_contact_at(self, customer_id: str, *, before: datetime) -> datetime | None:
        before = _utc(before)
        with self._lock:
            for when, _ in reversed(self._by_customer.get(customer_id, [])):
                if when < before:
                    return when
        return None

    def get(self, conversation_id: str) -> ContactRecord | None:
        with self._lock:
            return self._by_conversation.get(conversation_id)

    def close(self) -> None:
        return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_conversation)


def open_history_store(url: str, **options: object) -> HistoryStore:
    """A history store for a URL.

    ``memory://`` keeps contacts in this process; ``sqlite:///path.db`` (or ``sqlite://``
    for an in-memory database) and ``postgresql+psycopg://user@host:5432/db``
    (``postgresql://`` and ``postgres://`` mean the same) use SQL. ``options`` go to the
    store's constructor (``table_prefix``, ``timeout``).

    Raises
    ------
    InputError
        The URL names no supported backend.
    MissingExtraError
        The backend's driver is not installed.

    Examples
    --------
    >>> type(open_history_store("memory://")).__name__
    'MemoryHistoryStore'
    """
    if not isinstance(url, str) or not url:
        raise InputError(f"must be a URL, a HistoryStore or None, got {url!r}", field="url")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        return MemoryHistoryStore()
    if scheme.startswith(("sqlite", "postgresql", "postgres")):
        from escalate.stores.sql import SQLHistoryStore

        return SQLHistoryStore(url, **options)  # type: ignore[arg-type]
    raise InputError(
        f"must start with memory://, sqlite:// or postgresql+psycopg://, got {url!r}", field="url"
    )
