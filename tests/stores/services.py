"""The real PostgreSQL and Redis the store tests run against, with per-test names.

The services are required, not optional: CI starts them (``.ci/run``). Point the tests
elsewhere with ``ESCALATE_TEST_POSTGRES_URL`` and ``ESCALATE_TEST_REDIS_URL``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from escalate.stores.redis import RedisSessionStore
from escalate.stores.sql import SQLHistoryStore

POSTGRES_URL = os.environ.get(
    "ESCALATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("ESCALATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@contextmanager
def postgres_history(**options: object) -> Iterator[SQLHistoryStore]:
    """A PostgreSQL history store on tables of its own, dropped afterwards."""
    store = SQLHistoryStore(POSTGRES_URL, table_prefix=unique("t") + "_", **options)  # type: ignore[arg-type]
    try:
        yield store
    finally:
        store.drop()
        store.close()


@contextmanager
def redis_sessions(**options: object) -> Iterator[RedisSessionStore]:
    """A Redis session store under a key prefix of its own, cleared afterwards."""
    store = RedisSessionStore(REDIS_URL, prefix=unique("escalate-test:") + ":", **options)  # type: ignore[arg-type]
    try:
        yield store
    finally:
        store.clear()
        store.close()
