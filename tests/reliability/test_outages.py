"""What counts as a store being down, and history writes that fail for another reason."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

import psycopg.errors
import pytest
import redis.exceptions
import sqlalchemy.exc

from escalate.engine.history import HistoryGateway, is_outage
from escalate.errors import StoreError
from escalate.models import ContactRecord
from escalate.stores.history import MemoryHistoryStore

WHEN = datetime(2026, 5, 1, tzinfo=UTC)


class ConnectionError(Exception):  # named like a driver's own, shadowing the builtin
    """A driver's connection error that is not an OSError (as redis-py's is not)."""


class BusyLoading(ConnectionError):
    """A subclass of it, with a name of its own."""


def wrapped(exc: BaseException) -> StoreError:
    """``exc`` as a store raises it: a StoreError from the driver's error."""
    try:
        raise exc
    except BaseException as inner:
        try:
            raise StoreError(f"store failed: {inner}") from inner
        except StoreError as outer:
            return outer


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(),
        TimeoutError(),
        ConnectionError("refused"),
        BusyLoading("loading the dataset in memory"),
        redis.exceptions.ConnectionError("refused"),
        redis.exceptions.BusyLoadingError("loading"),
        redis.exceptions.TimeoutError("timed out"),
        psycopg.errors.ConnectionTimeout("timed out"),
        psycopg.errors.AdminShutdown("terminating connection"),
        sqlalchemy.exc.DisconnectionError("gone"),
        sqlalchemy.exc.OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown("down")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_connection_errors_and_their_subclasses_are_outages(exc: Exception) -> None:
    assert is_outage(exc)
    assert is_outage(wrapped(exc))
    assert is_outage(wrapped(wrapped(exc)))


def test_an_error_raised_while_handling_an_outage_is_one() -> None:
    try:
        try:
            raise redis.exceptions.BusyLoadingError("loading")
        except redis.exceptions.RedisError:
            raise StoreError("store failed")  # noqa: B904 - no ``from``: a context only
    except StoreError as exc:
        assert exc.__cause__ is None and exc.__context__ is not None
        assert is_outage(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad record"),
        StoreError("redis: the saved state of 'c1' is not a valid session state"),
        wrapped(ValueError("bad record")),
        wrapped(psycopg.errors.UniqueViolation("duplicate key")),
        wrapped(sqlalchemy.exc.IntegrityError("INSERT", {}, ValueError("duplicate key"))),
        wrapped(redis.exceptions.ResponseError("WRONGTYPE")),
    ],
    ids=lambda e: f"{type(e).__name__}-{e}"[:40],
)
def test_a_bad_record_is_not_an_outage(exc: Exception) -> None:
    assert not is_outage(exc)


def test_a_suppressed_context_is_not_followed() -> None:
    try:
        try:
            raise ConnectionRefusedError()
        except OSError:
            raise ValueError("bad record") from None
    except ValueError as exc:
        assert not is_outage(exc)


# -- history writes ----------------------------------------------------------------------------


class Picky(MemoryHistoryStore):
    """Refuses any batch holding a contact whose id starts with ``bad``; down while ``down``,
    and down after ``down_after`` more batches are written."""

    def __init__(self) -> None:
        self.down = False
        self.down_after: int | None = None
        super().__init__()

    def record_many(self, contacts: Iterable[ContactRecord]) -> int:
        batch = list(contacts)
        if self.down:
            try:
                raise redis.exceptions.ConnectionError("refused")
            except redis.exceptions.ConnectionError as exc:
                raise StoreError("history store: down") from exc
        bad = [c.conversation_id for c in batch if c.conversation_id.startswith("bad")]
        if bad:
            raise StoreError(f"history store: refused {bad}") from ValueError("value too long")
        written = super().record_many(batch)
        if self.down_after is not None:
            self.down_after -= 1
            self.down = self.down_after <= 0
        return written


def contact(cid: str) -> ContactRecord:
    return ContactRecord(customer_id="u1", conversation_id=cid, started_at=WHEN, outcome="resolved")


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="escalate")


def test_one_bad_record_does_not_hold_back_the_batch(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="escalate")
    store = Picky()
    gateway = HistoryGateway(store, clock=lambda: WHEN)
    store.down = True
    for cid in ("c1", "bad1", "c2", "c3"):
        gateway.record(contact(cid))
    assert gateway.pending == 4
    store.down = False
    assert gateway.flush() == 0
    assert [store.get(c) is not None for c in ("c1", "bad1", "c2", "c3")] == [
        True,
        False,
        True,
        True,
    ]
    assert gateway.rejected == 1
    assert any("bad1 refused, dropped" in r.getMessage() for r in caplog.records)


def test_an_outage_met_while_writing_one_by_one_keeps_the_rest() -> None:
    store = Picky()
    gateway = HistoryGateway(store, clock=lambda: WHEN)
    store.down = True
    for cid in ("c1", "bad1", "c2"):
        gateway.record(contact(cid))
    # the batch is refused (bad1), c1 is written on its own, then the store goes down
    store.down, store.down_after = False, 1
    assert gateway.flush() == 2
    assert store.get("c1") is not None and gateway.rejected == 0
    store.down, store.down_after = False, None
    assert gateway.flush() == 0
    assert store.get("c2") is not None and store.get("bad1") is None and gateway.rejected == 1


def test_a_store_that_refuses_every_record_keeps_them_all() -> None:
    store = Picky()
    gateway = HistoryGateway(store, clock=lambda: WHEN)
    gateway.record(contact("bad1"))
    gateway.record(contact("bad2"))
    assert gateway.pending == 2 and gateway.rejected == 0
    gateway.record(contact("c1"))  # one the store takes: the others were the bad ones
    assert gateway.pending == 0 and gateway.rejected == 2
    assert store.get("c1") is not None


def test_the_engine_counts_the_contacts_it_rejected() -> None:
    from benchmarks.reliability.workload import POLICY

    from escalate import Engine, Turn, parse_policy

    store = Picky()
    engine = Engine(parse_policy(POLICY, affect=False), history=store)
    store.down = True
    for cid in ("c1", "bad1", "c2"):
        session = engine.session(cid, customer_id="u1")
        session.observe(Turn(role="user", text="Where is my parcel?", timestamp=WHEN))
        session.end()
    assert engine.pending_contacts == 3
    store.down = False
    assert engine.flush_history() == 0
    assert engine.rejected_contacts == 1 and store.get("c2") is not None
