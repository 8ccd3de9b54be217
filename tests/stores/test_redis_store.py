from __future__ import annotations

import multiprocessing
import time

import pytest
import redis
from tests.stores.redis_worker import observe_many
from tests.stores.services import REDIS_URL, redis_sessions, unique

from escalate.errors import InputError, StoreError
from escalate.models import Turn
from escalate.stores.redis import RedisSessionStore
from escalate.stores.session import (
    MemorySessionStore,
    SessionState,
    SessionStore,
    open_session_store,
)


def test_round_trip_survives_a_new_client_and_delete() -> None:
    with redis_sessions() as store:
        assert isinstance(store, SessionStore)
        assert store.load("c1") is None
        state = SessionState(
            conversation_id="c1",
            customer_id="u1",
            version=2,
            turns=(Turn(role="user", text="hi"), Turn(role="bot", event="fallback")),
            customer={"customer.tier": 2.0},
            history={"history.contacts_7d": 1.0, "history.hours_since_last_contact": None},
            topic="refund",
        )
        store.save(state)
        restarted = RedisSessionStore(REDIS_URL, prefix=store.prefix)
        assert restarted.load("c1") == state
        restarted.close()
        store.delete("c1")
        store.delete("c1")
        assert store.load("c1") is None


@pytest.mark.parametrize("factory", ["redis", "memory"])
def test_save_if_is_a_compare_and_set_on_the_version(factory: str) -> None:
    def check(store: SessionStore) -> None:
        first = SessionState(conversation_id="c1", version=1)
        assert store.save_if(first, 0) is True
        assert store.save_if(first, 0) is False  # someone else saved first
        second = SessionState(conversation_id="c1", version=2)
        assert store.save_if(second, 3) is False
        assert store.save_if(second, 1) is True
        loaded = store.load("c1")
        assert loaded is not None and loaded.version == 2

    if factory == "memory":
        check(MemorySessionStore())
    else:
        with redis_sessions() as store:
            check(store)


def test_states_expire_after_their_ttl() -> None:
    with redis_sessions(ttl_seconds=0.2) as store:
        store.save_if(SessionState(conversation_id="c1", version=1), 0)
        assert store.load("c1") is not None
        time.sleep(0.4)
        assert store.load("c1") is None


def test_garbage_in_redis_raises_a_store_error() -> None:
    with redis_sessions() as store:
        client = redis.Redis.from_url(REDIS_URL)
        client.hset(store.prefix + "c1", mapping={"v": "1", "s": "{not json"})
        client.hset(store.prefix + "c2", mapping={"v": "1", "s": '{"conversation_id": "other"}'})
        client.set(store.prefix + "c3", "a string, not a hash")
        with pytest.raises(StoreError, match="not a valid session state"):
            store.load("c1")
        with pytest.raises(StoreError, match="holds another conversation"):
            store.load("c2")
        with pytest.raises(StoreError, match="redis: load failed"):
            store.load("c3")
        client.close()


def test_a_redis_that_is_down_raises_a_store_error_quickly() -> None:
    store = RedisSessionStore("redis://127.0.0.1:1/0", timeout=0.5, retry_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(StoreError, match="redis: load failed"):
        store.load("c1")
    with pytest.raises(StoreError, match="redis: save failed"):
        store.save_if(SessionState(conversation_id="c1", version=1), 0)
    assert time.monotonic() - started < 5


def test_open_session_store_by_url_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESCALATE_SESSION_URL", raising=False)
    assert isinstance(open_session_store(), MemorySessionStore)
    monkeypatch.setenv("ESCALATE_SESSION_URL", REDIS_URL)
    assert isinstance(open_session_store(), RedisSessionStore)
    assert isinstance(open_session_store("memory://"), MemorySessionStore)
    with pytest.raises(InputError, match="url: must start with memory:// or redis://"):
        open_session_store("memcached://x")
    with pytest.raises(InputError, match="ttl_seconds"):
        RedisSessionStore(REDIS_URL, ttl_seconds=0)


def test_two_processes_observing_one_conversation_lose_no_turn() -> None:
    turns = 150
    prefix = unique("escalate-test:") + ":"
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Event()
        with context.Pool(2) as pool:
            results = [
                pool.apply_async(observe_many, (REDIS_URL, prefix, worker, turns, start, "shared"))
                for worker in range(2)
            ]
            time.sleep(0.5)
            start.set()
            outcomes = [r.get(timeout=240) for r in results]
    store = RedisSessionStore(REDIS_URL, prefix=prefix)
    try:
        state = store.load("shared")
        assert state is not None
        assert [clean for clean, _ in outcomes] == [turns, turns]
        assert state.version == len(state.turns) == 2 * turns
        assert state.dialogue.user_turns == 2 * turns
        texts = {t.text for t in state.turns}
        assert texts == {f"worker {w} message {i}" for w in range(2) for i in range(turns)}
        # each worker's own turns stay in the order it observed them
        for w in range(2):
            own = [t.text for t in state.turns if t.text and t.text.startswith(f"worker {w} ")]
            assert own == [f"worker {w} message {i}" for i in range(turns)]
    finally:
        store.clear()
        store.close()
