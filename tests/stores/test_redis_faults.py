"""The Redis session store through restarts and lost replies: no turn lost, none twice."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis
from benchmarks.reliability.servers import RedisServer
from benchmarks.reliability.workload import POLICY
from tests.stores.services import REDIS_URL, unique

from escalate import Engine, Turn, parse_policy
from escalate.errors import StoreError
from escalate.stores.history import MemoryHistoryStore
from escalate.stores.redis import RedisSessionStore
from escalate.stores.session import SessionState


class Flaky(redis.Redis):
    """A client that fails chosen commands: ``lose_reply`` runs the script and then loses
    its reply; ``fail_reads`` fails a read before it reaches the server."""

    lose_reply = 0
    fail_reads = 0

    def evalsha(self, *args: Any, **kwargs: Any) -> Any:
        result = super().evalsha(*args, **kwargs)
        if self.lose_reply:
            self.lose_reply -= 1
            raise redis.ConnectionError("Connection reset by peer (reply lost)")
        return result

    def hget(self, *args: Any, **kwargs: Any) -> Any:
        if self.fail_reads:
            self.fail_reads -= 1
            raise redis.ConnectionError("Connection refused")
        return super().hget(*args, **kwargs)


def engine_on(store: RedisSessionStore) -> Engine:
    return Engine(parse_policy(POLICY, affect=False), sessions=store, history=MemoryHistoryStore())


@pytest.fixture
def flaky_store() -> Any:
    client = Flaky.from_url(REDIS_URL, socket_timeout=1.0)
    store = RedisSessionStore(client=client, prefix=unique("escalate-test:") + ":")
    yield store, client
    store.clear()
    store.close()


def test_a_lost_reply_is_tried_again_without_applying_the_turn_twice(flaky_store: Any) -> None:
    store, client = flaky_store
    session = engine_on(store).session("c1")
    session.observe(Turn(role="user", text="hello"))
    client.lose_reply = 1  # the next save reaches Redis, its answer does not come back
    decision = session.observe(Turn(role="user", text="my parcel is late"))
    assert decision.guard is None  # the save was applied: nothing failed
    state = store.load("c1")
    assert state is not None
    assert [t.text for t in state.turns] == ["hello", "my parcel is late"]
    assert state.version == 2


def test_save_if_answers_true_for_its_own_write_even_after_later_writes(flaky_store: Any) -> None:
    store, client = flaky_store
    first = SessionState(conversation_id="c1", version=1)
    client.lose_reply = 1
    assert store.save_if(first, 0) is True
    assert store.save_if(SessionState(conversation_id="c1", version=2), 1) is True
    assert store.save_if(SessionState(conversation_id="c1", version=2), 1) is False  # a new write


def test_a_failed_load_never_wipes_the_conversation(flaky_store: Any) -> None:
    store, client = flaky_store
    store.retry_seconds = 0.0  # the read fails for good: the engine saves a fresh state
    session = engine_on(store).session("c1")
    for text in ("one", "two", "three"):
        session.observe(Turn(role="user", text=text))
    client.fail_reads = 1
    decision = session.observe(Turn(role="user", text="four"))
    assert decision.guard == "on_error"  # the turn could not be applied, and says so
    state = store.load("c1")
    assert state is not None and [t.text for t in state.turns] == ["one", "two", "three"]
    with pytest.raises(StoreError, match="save refused: version 3"):
        store.save(SessionState(conversation_id="c1", version=1))


def test_a_restart_within_the_retry_budget_loses_nothing() -> None:
    with RedisServer.running_server() as server:
        store = RedisSessionStore(server.url, retry_seconds=5.0)
        session = engine_on(store).session("c1")
        session.observe(Turn(role="user", text="before"))
        server.kill()
        restarter = threading.Timer(0.5, server.start)
        restarter.start()
        started = time.monotonic()
        decision = session.observe(Turn(role="user", text="during"))
        waited = time.monotonic() - started
        restarter.join()
        assert decision.guard is None
        assert waited >= 0.4  # it waited for the server rather than failing
        state = store.load("c1")
        assert state is not None and [t.text for t in state.turns] == ["before", "during"]
        store.close()


def test_retries_stop_at_the_budget() -> None:
    store = RedisSessionStore("redis://127.0.0.1:1/0", timeout=0.2, retry_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(StoreError, match="redis: load failed"):
        store.load("c1")
    assert 0.3 <= time.monotonic() - started < 2.0
