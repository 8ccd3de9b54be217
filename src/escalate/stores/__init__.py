"""Stores: where per-conversation state and contact history are kept.

Sessions: :class:`MemorySessionStore` (this process) and :class:`RedisSessionStore`
(shared by every worker; the ``redis`` extra). History: :class:`MemoryHistoryStore` and
:class:`SQLHistoryStore` (SQLite, or PostgreSQL with the ``postgres`` extra). The
``open_*`` functions turn a URL into a store.
"""

from typing import TYPE_CHECKING, Any

from escalate.stores.history import HistoryStore, MemoryHistoryStore, open_history_store
from escalate.stores.redis import RedisSessionStore
from escalate.stores.session import MemorySessionStore, SessionStore, open_session_store

if TYPE_CHECKING:
    from escalate.stores.sql import SQLHistoryStore

__all__ = [
    "HistoryStore",
    "MemoryHistoryStore",
    "MemorySessionStore",
    "RedisSessionStore",
    "SQLHistoryStore",
    "SessionStore",
    "open_history_store",
    "open_session_store",
]


def __getattr__(name: str) -> Any:
    # SQLAlchemy is imported only when the SQL store is first asked for.
    if name == "SQLHistoryStore":
        from escalate.stores.sql import SQLHistoryStore

        return SQLHistoryStore
    raise AttributeError(f"module 'escalate.stores' has no attribute {name!r}")
