import threading
import time

import pytest

from escalate.engine.state import SessionState
from escalate.stores.session import MemorySessionStore, SessionStore


def test_memory_store_round_trip_and_delete() -> None:
    store = MemorySessionStore()
    assert isinstance(store, SessionStore)
    state = SessionState(conversation_id="c1", customer_id="u1", version=3)
    store.save(state)
    assert store.load("c1") == state
    store.delete("c1")
    store.delete("c1")
    assert store.load("c1") is None


def test_memory_store_expires_and_caps() -> None:
    store = MemorySessionStore(ttl_seconds=0.05, max_sessions=2)
    for i in range(3):
        store.save(SessionState(conversation_id=f"c{i}"))
    assert store.load("c0") is None and len(store) == 2
    time.sleep(0.08)
    assert store.load("c2") is None


@pytest.mark.parametrize("kwargs", [{"ttl_seconds": 0}, {"max_sessions": 0}])
def test_memory_store_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be a positive"):
        MemorySessionStore(**kwargs)  # type: ignore[arg-type]


def test_memory_store_is_thread_safe() -> None:
    store = MemorySessionStore()

    def work(k: int) -> None:
        for i in range(200):
            store.save(SessionState(conversation_id=f"c{k}-{i}"))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store) == 800
