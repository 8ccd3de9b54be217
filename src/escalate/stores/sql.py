"""Contact history in SQL: SQLite (the embedded default) and PostgreSQL, with SQLAlchemy Core.

Two tables, named with a prefix (``escalate_`` by default):

``<prefix>contacts``
    One row per conversation (primary key ``conversation_id``), indexed on
    ``(customer_id, started_at)`` for the per-customer time-window queries the history
    signals make. Times are stored as naive UTC.
``<prefix>schema_version``
    The version of that layout. The tables are created on first use; a database written
    by a newer escalate (a higher version) is refused with a clear message rather than
    misread.

Every call runs under a timeout (connecting, waiting for a lock, running a statement),
and any failure, including rows that do not make a valid record, is raised as
:class:`~escalate.errors.StoreError`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from escalate.errors import InputError, MissingExtraError, StoreError
from escalate.models import ContactRecord

__all__ = ["SCHEMA_VERSION", "SQLHistoryStore"]

#: The version of the table layout this escalate writes and reads.
SCHEMA_VERSION = 1
_COMPONENT = "history"
_CHUNK = 5_000
_COLUMNS = (
    "conversation_id",
    "customer_id",
    "started_at",
    "ended_at",
    "channel",
    "topic",
    "outcome",
    "final_sentiment",
    "text",
)


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None)


def _aware(moment: Any) -> Any:
    if isinstance(moment, datetime) and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class SQLHistoryStore:
    """Contact history in SQLite or PostgreSQL.

    Nothing connects until the store is first used, so building one is instant and a
    database that is down is only noticed (as a :class:`~escalate.errors.StoreError`)
    when a contact is read or recorded. A SQLite file that does not exist yet reads as an
    empty history and is created when the first contact is recorded.

    Parameters
    ----------
    url:
        ``sqlite:///path/to/history.db``, ``sqlite://`` (in memory) or
        ``postgresql+psycopg://user@host:5432/db`` (``postgresql://`` and ``postgres://``
        are read as psycopg 3).
    table_prefix:
        Prefix of the table names, so that several stores can share one database.
    timeout:
        Seconds allowed to connect, to wait for a lock and to run one statement.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> store = SQLHistoryStore("sqlite://")
    >>> when = datetime(2026, 5, 1, 10, tzinfo=UTC)
    >>> store.record(ContactRecord(customer_id="u1", conversation_id="c1", topic="refund",
    ...                            started_at=when, outcome="handed_off"))
    >>> store.get("c1").topic, store.last_contact_at("u1", before=datetime.now(UTC)) == when
    ('refund', True)
    >>> store.close()
    """

    def __init__(self, url: str, *, table_prefix: str = "escalate_", timeout: float = 2.0) -> None:
        if not table_prefix.replace("_", "").isalnum() or not table_prefix[0].isalpha():
            raise InputError(
                "must start with a letter and hold only letters, digits and "
                f"underscores, got {table_prefix!r}",
                field="table_prefix",
            )
        if timeout <= 0:
            raise InputError(
                f"must be a positive number of seconds, got {timeout!r}", field="timeout"
            )
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise MissingExtraError("PostgreSQL history", "postgres") from None
        elif backend != "sqlite":
            raise InputError(
                f"must be sqlite:// or postgresql+psycopg://, got {url!r}", field="url"
            )
        self.url = parsed
        self.dialect = "postgresql" if backend in ("postgresql", "postgres") else "sqlite"
        self.table_prefix = table_prefix
        self.timeout = timeout
        self._file: Path | None = (
            Path(parsed.database)
            if self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:")
            else None
        )
        metadata = sa.MetaData()
        self.contacts = sa.Table(
            f"{table_prefix}contacts",
            metadata,
            sa.Column("conversation_id", sa.String(200), primary_key=True),
            sa.Column("customer_id", sa.String(200), nullable=False),
            sa.Column("started_at", sa.DateTime(), nullable=False),
            sa.Column("ended_at", sa.DateTime(), nullable=True),
            sa.Column("channel", sa.String(50), nullable=False),
            sa.Column("topic", sa.String(200), nullable=True),
            sa.Column("outcome", sa.String(20), nullable=False),
            sa.Column("final_sentiment", sa.Float(), nullable=True),
            sa.Column("text", sa.Text(), nullable=True),
            sa.Column("recorded_at", sa.DateTime(), nullable=False),
            sa.Index(f"ix_{table_prefix}contacts_customer_started", "customer_id", "started_at"),
        )
        self.schema_version = sa.Table(
            f"{table_prefix}schema_version",
            metadata,
            sa.Column("component", sa.String(50), primary_key=True),
            sa.Column("version", sa.Integer(), nullable=False),
        )
        self._metadata = metadata
        self._engine: Engine | None = None
        self._ready = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLHistoryStore({self.url.render_as_string(hide_password=True)!r})"

    # -- connection and schema -------------------------------------------------------------
    def _make_engine(self) -> Engine:
        if self.dialect == "sqlite":
            if self._file is not None:
                self._file.parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(
                self.url,
                connect_args={"timeout": self.timeout, "check_same_thread": False},
            )

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                if self._file is not None:
                    cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

            return engine
        millis = int(self.timeout * 1000)
        return sa.create_engine(
            self.url,
            pool_pre_ping=True,
            pool_timeout=self.timeout,
            connect_args={
                "connect_timeout": max(1, round(self.timeout)),
                "options": f"-c statement_timeout={millis} -c lock_timeout={millis}",
            },
        )

    def _exists(self) -> bool:
        """False for a SQLite file not created yet (it reads as empty)."""
        return self._ready or self._file is None or self._file.exists()

    def _ensure(self) -> Engine:
        if self._ready and self._engine is not None:
            return self._engine
        with self._lock:
            if self._engine is None:
                self._engine = self._make_engine()
            if not self._ready:
                self._create(self._engine)
                self._ready = True
            return self._engine

    def _create(self, engine: Engine) -> None:
        for attempt in range(2):
            try:
                with engine.begin() as conn:
                    self._metadata.create_all(conn, checkfirst=True)
                    found = conn.execute(
                        sa.select(self.schema_version.c.version).where(
                            self.schema_version.c.component == _COMPONENT
                        )
                    ).scalar_one_or_none()
                    if found is None:
                        conn.execute(
                            self.schema_version.insert().values(
                                component=_COMPONENT, version=SCHEMA_VERSION
                            )
                        )
                    elif int(found) > SCHEMA_VERSION:
                        raise StoreError(
                            f"the history tables '{self.table_prefix}*' have schema version "
                            f"{found}, newer than this escalate understands ({SCHEMA_VERSION}); "
                            "upgrade escalate, or point it at another database or table_prefix"
                        )
                return
            except SQLAlchemyError as exc:
                if attempt:  # another process may have created the tables at the same time
                    raise StoreError(f"history store: cannot create tables: {exc}") from exc

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"history store: {what} failed: {type(exc).__name__}: {exc}") from exc

    # -- writing ---------------------------------------------------------------------------
    def _text(self, value: str) -> str:
        """A string as stored: PostgreSQL text cannot hold NUL, which becomes U+FFFD (on
        writes and on the keys of reads alike, so that a record is found again)."""
        if self.dialect == "postgresql" and "\x00" in value:
            return value.replace("\x00", "\ufffd")
        return value

    def _row(self, contact: ContactRecord, now: datetime) -> dict[str, Any]:
        text = self._text
        return {
            "conversation_id": text(contact.conversation_id),
            "customer_id": text(contact.customer_id),
            "started_at": _naive_utc(contact.started_at),
            "ended_at": _naive_utc(contact.ended_at),
            "channel": text(contact.channel),
            "topic": None if contact.topic is None else text(contact.topic),
            "outcome": contact.outcome,
            "final_sentiment": contact.final_sentiment,
            "text": None if contact.text is None else text(contact.text),
            "recorded_at": now,
        }

    def _upsert(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement: Any = pg_insert(self.contacts)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(self.contacts)
        keep = {c: statement.excluded[c] for c in (*_COLUMNS[1:], "recorded_at")}
        conn.execute(
            statement.on_conflict_do_update(index_elements=["conversation_id"], set_=keep), rows
        )

    def record(self, contact: ContactRecord) -> None:
        self.record_many([contact])

    def record_many(self, contacts: Iterable[ContactRecord]) -> int:
        now = _naive_utc(datetime.now(UTC))
        assert now is not None
        count = 0
        with self._errors("recording contacts"):
            engine = self._ensure()
            chunk: list[dict[str, Any]] = []
            with engine.begin() as conn:
                for contact in contacts:
                    chunk.append(self._row(contact, now))
                    if len(chunk) >= _CHUNK:
                        self._upsert(conn, _dedupe(chunk))
                        count += len(chunk)
                        chunk = []
                if chunk:
                    self._upsert(conn, _dedupe(chunk))
                    count += len(chunk)
        return count

    # -- reading ---------------------------------------------------------------------------
    def recent(
        self, customer_id: str, *, since: datetime, until: datetime, limit: int = 500
    ) -> list[ContactRecord]:
        if not self._exists():
            return []
        c = self.contacts.c
        query = (
            sa.select(*(c[name] for name in _COLUMNS))
            .where(
                c.customer_id == self._text(customer_id),
                c.started_at >= _naive_utc(since),
                c.started_at < _naive_utc(until),
            )
            .order_by(c.started_at.desc())
            .limit(limit)
        )
        with self._errors("reading contacts"), self._ensure().connect() as conn:
            rows = conn.execute(query).all()
        return [self._record(row._mapping) for row in rows]

    def last_contact_at(self, customer_id: str, *, before: datetime) -> datetime | None:
        if not self._exists():
            return None
        c = self.contacts.c
        query = sa.select(sa.func.max(c.started_at)).where(
            c.customer_id == self._text(customer_id), c.started_at < _naive_utc(before)
        )
        with self._errors("reading contacts"), self._ensure().connect() as conn:
            found = conn.execute(query).scalar_one_or_none()
        if found is not None and not isinstance(found, datetime):
            raise StoreError(f"history store: expected a time, got {found!r}")
        return found if found is None else found.replace(tzinfo=found.tzinfo or UTC)

    def get(self, conversation_id: str) -> ContactRecord | None:
        if not self._exists():
            return None
        c = self.contacts.c
        query = sa.select(*(c[name] for name in _COLUMNS)).where(
            c.conversation_id == self._text(conversation_id)
        )
        with self._errors("reading contacts"), self._ensure().connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else self._record(row._mapping)

    def _record(self, row: Any) -> ContactRecord:
        data = {name: _aware(row[name]) for name in _COLUMNS}
        try:
            return ContactRecord.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise StoreError(
                f"history store: an invalid record for conversation "
                f"{data.get('conversation_id')!r}: {field}: {first['msg']}"
            ) from None

    # -- housekeeping ----------------------------------------------------------------------
    def drop(self) -> None:
        """Drop this store's tables (and everything in them)."""
        with self._errors("dropping tables"):
            engine = self._engine or self._make_engine()
            self._engine = engine
            with engine.begin() as conn:
                self._metadata.drop_all(conn, checkfirst=True)
            self._ready = False

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None
            self._ready = False


def _dedupe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last row of each conversation: one statement may not upsert a key twice."""
    if len({r["conversation_id"] for r in rows}) == len(rows):
        return rows
    return list({r["conversation_id"]: r for r in rows}.values())
