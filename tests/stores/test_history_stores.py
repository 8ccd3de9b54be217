from __future__ import annotations

import builtins
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.stores.services import postgres_history

from escalate.errors import InputError, MissingExtraError, StoreError
from escalate.models import ContactRecord
from escalate.stores.history import HistoryStore, MemoryHistoryStore, open_history_store
from escalate.stores.sql import SCHEMA_VERSION, SQLHistoryStore

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def contact(cid: str, customer: str = "u1", *, hours_ago: float = 1, **kw: Any) -> ContactRecord:
    kw.setdefault("outcome", "abandoned")
    return ContactRecord(
        customer_id=customer,
        conversation_id=cid,
        started_at=NOW - timedelta(hours=hours_ago),
        **kw,
    )


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    if request.param == "memory":
        yield MemoryHistoryStore()
    elif request.param == "sqlite":
        sqlite = SQLHistoryStore(f"sqlite:///{tmp_path / 'history.db'}")
        yield sqlite
        sqlite.close()
    else:
        with postgres_history() as pg:
            yield pg


def window(store: HistoryStore, customer: str = "u1", **kw: Any) -> list[ContactRecord]:
    return store.recent(customer, since=NOW - timedelta(days=30), until=NOW, **kw)


def test_round_trip_newest_first_per_customer(store: HistoryStore) -> None:
    assert isinstance(store, HistoryStore)
    assert window(store) == [] and store.get("c1") is None
    store.record(contact("c1", hours_ago=48, topic="refund", final_sentiment=-0.5, text="hi"))
    store.record(contact("c2", hours_ago=2, outcome="handed_off", channel="voice"))
    store.record(contact("c3", customer="u2"))
    store.record(contact("old", hours_ago=24 * 40))
    store.record(contact("future", hours_ago=-1))
    found = window(store)
    assert [c.conversation_id for c in found] == ["c2", "c1"]
    assert found[1] == contact("c1", hours_ago=48, topic="refund", final_sentiment=-0.5, text="hi")
    assert found[0].started_at.tzinfo is not None
    assert [c.conversation_id for c in window(store, limit=1)] == ["c2"]
    assert store.last_contact_at("u1", before=NOW - timedelta(days=30)) == NOW - timedelta(
        hours=24 * 40
    )
    assert store.last_contact_at("nobody", before=NOW) is None


def test_recording_twice_updates_instead_of_duplicating(store: HistoryStore) -> None:
    store.record(contact("c1", outcome="handed_off", topic="refund"))
    store.record(contact("c1", hours_ago=3, outcome="resolved", topic="refund"))
    assert store.record_many([contact("c2"), contact("c2", outcome="resolved")]) == 2
    found = window(store)
    assert sorted((c.conversation_id, c.outcome) for c in found) == [
        ("c1", "resolved"),
        ("c2", "resolved"),
    ]
    got = store.get("c1")
    assert got is not None and got.started_at == NOW - timedelta(hours=3)


def test_nul_characters_are_stored_and_found_again(store: HistoryStore) -> None:
    """PostgreSQL text cannot hold NUL: one such record must not fail the others."""
    odd = contact("c\x001", "u\x001", text="my order \x00 is late", topic="late\x00")
    store.record_many([odd, contact("c2", "u2")])
    found = store.get("c\x001")
    assert found is not None and found.text is not None and found.text.startswith("my order")
    assert [c.conversation_id for c in window(store, "u\x001")] == [found.conversation_id]
    assert store.last_contact_at("u\x001", before=NOW) is not None
    assert store.get("c2") is not None


def test_naive_times_are_utc(store: HistoryStore) -> None:
    naive = ContactRecord(
        customer_id="u1",
        conversation_id="c1",
        started_at=datetime(2026, 6, 1, 11),
        outcome="resolved",
    )
    store.record(naive)
    assert [c.started_at for c in window(store)] == [datetime(2026, 6, 1, 11, tzinfo=UTC)]


def test_sql_store_is_thread_safe(tmp_path: Path) -> None:
    store = SQLHistoryStore(f"sqlite:///{tmp_path / 'h.db'}")

    def work(k: int) -> None:
        for i in range(20):
            store.record(contact(f"c{k}-{i}", hours_ago=i + 1))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(window(store)) == 80


def test_a_missing_sqlite_file_reads_empty_and_is_created_on_first_write(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "history.db"
    store = SQLHistoryStore(f"sqlite:///{path}")
    assert window(store) == [] and store.get("c1") is None
    assert store.last_contact_at("u1", before=NOW) is None
    assert not path.exists()
    store.record(contact("c1"))
    assert path.exists() and len(window(store)) == 1
    store.close()
    # a new store (a restarted process) sees what was recorded
    assert [c.conversation_id for c in window(SQLHistoryStore(f"sqlite:///{path}"))] == ["c1"]


def test_tables_are_created_with_a_customer_time_index(tmp_path: Path) -> None:
    store = SQLHistoryStore(f"sqlite:///{tmp_path / 'h.db'}", table_prefix="hx_")
    store.record(contact("c1"))
    inspector = sa.inspect(store._ensure())
    assert {"hx_contacts", "hx_schema_version"} <= set(inspector.get_table_names())
    indexes = inspector.get_indexes("hx_contacts")
    assert ["customer_id", "started_at"] in [i["column_names"] for i in indexes]


def test_postgres_has_the_index_and_the_schema_version() -> None:
    with postgres_history() as store:
        store.record(contact("c1"))
        inspector = sa.inspect(store._ensure())
        indexes = inspector.get_indexes(store.contacts.name)
        assert ["customer_id", "started_at"] in [i["column_names"] for i in indexes]
        with store._ensure().connect() as conn:
            version = conn.execute(sa.select(store.schema_version.c.version)).scalar_one()
        assert version == SCHEMA_VERSION


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_newer_schema_is_refused_with_a_clear_message(backend: str, tmp_path: Path) -> None:
    def check(store: SQLHistoryStore) -> None:
        store.record(contact("c1"))
        with store._ensure().begin() as conn:
            conn.execute(sa.update(store.schema_version).values(version=SCHEMA_VERSION + 1))
        fresh = SQLHistoryStore(
            store.url.render_as_string(hide_password=False), table_prefix=store.table_prefix
        )
        with pytest.raises(StoreError, match=r"schema version 2, newer than .*upgrade escalate"):
            window(fresh)
        fresh.close()

    if backend == "sqlite":
        check(SQLHistoryStore(f"sqlite:///{tmp_path / 'h.db'}"))
    else:
        with postgres_history() as store:
            check(store)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_garbage_rows_raise_a_store_error(backend: str, tmp_path: Path) -> None:
    def check(store: SQLHistoryStore) -> None:
        store.record(contact("c1"))
        with store._ensure().begin() as conn:
            conn.execute(sa.update(store.contacts).values(outcome="exploded"))
        with pytest.raises(StoreError, match="invalid record for conversation 'c1': outcome"):
            window(store)

    if backend == "sqlite":
        check(SQLHistoryStore(f"sqlite:///{tmp_path / 'h.db'}"))
    else:
        with postgres_history() as store:
            check(store)


def test_a_database_that_is_down_raises_a_store_error_quickly() -> None:
    store = SQLHistoryStore(
        "postgresql+psycopg://postgres@127.0.0.1:1/test", timeout=1.0, table_prefix="down_"
    )
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"history store: .* failed"):
        window(store)
    with pytest.raises(StoreError):
        store.record(contact("c1"))
    assert time.monotonic() - started < 10


def test_postgres_without_the_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_psycopg(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "psycopg" or name.startswith("psycopg."):
            raise ImportError("No module named 'psycopg'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "psycopg", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    with pytest.raises(MissingExtraError, match=r"pip install 'escalate\[postgres\]'") as info:
        SQLHistoryStore("postgresql+psycopg://postgres@127.0.0.1/test")
    assert "PostgreSQL history" in str(info.value)


def test_open_history_store_by_url(tmp_path: Path) -> None:
    assert isinstance(open_history_store("memory://"), MemoryHistoryStore)
    sqlite = open_history_store(f"sqlite:///{tmp_path / 'h.db'}")
    assert isinstance(sqlite, SQLHistoryStore) and sqlite.dialect == "sqlite"
    pg = open_history_store("postgresql://postgres@127.0.0.1/test")
    assert isinstance(pg, SQLHistoryStore)
    assert pg.url.drivername == "postgresql+psycopg"
    with pytest.raises(InputError, match="url: must start with memory://, sqlite://"):
        open_history_store("mysql://x")
    with pytest.raises(InputError, match="table_prefix"):
        SQLHistoryStore("sqlite://", table_prefix="bad-prefix;")


def test_a_slow_postgres_times_out_instead_of_hanging() -> None:
    with postgres_history(timeout=0.5) as store:
        store.record(contact("c1"))
        blocker = sa.create_engine(store.url).connect()
        try:
            blocker.execute(sa.text(f"LOCK TABLE {store.contacts.name} IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            with pytest.raises(StoreError, match="timeout"):
                window(store)
            assert time.monotonic() - started < 3
        finally:
            blocker.rollback()
            blocker.close()
        assert len(window(store)) == 1


def test_a_locked_sqlite_file_times_out_instead_of_hanging(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = SQLHistoryStore(f"sqlite:///{path}", timeout=0.3)
    store.record(contact("c1"))
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked"):
            store.record(contact("c2"))
        assert time.monotonic() - started < 3
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.record(contact("c2"))
    assert len(window(store)) == 2
