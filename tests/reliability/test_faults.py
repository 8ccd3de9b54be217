"""Servers killed and restarted under observed sessions: nothing lost, nothing twice.

Private Redis and PostgreSQL servers on free ports (never the machine's own), killed with
SIGKILL and started again while worker threads observe conversations.
"""

from __future__ import annotations

import logging

import pytest
from benchmarks.reliability.faults import Fault, run_faults


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="escalate")  # store failures are expected


def test_restarts_lose_no_turn_and_apply_none_twice() -> None:
    run = run_faults(
        [
            Fault(0.8, ("redis",), 0.5),
            Fault(2.0, ("postgres",), 0.5),
            Fault(4.5, ("redis", "postgres"), 0.3),
        ],
        conversations=40,
        user_turns=4,
        workers=4,
        think=0.01,
    )
    assert run.user_turns > 0 and len(run.outages) == 4
    assert (run.lost, run.applied_twice, run.reordered) == (0, 0, 0), run.lost_examples
    assert run.on_error_session == 0  # Redis restarts are bridged by the store's retries
    assert run.contacts_lost == 0 and run.contacts_pending_after_flush == 0
    redis_outages = [o for o in run.outages if o.server == "redis"]
    assert all(o.failures == 0 for o in redis_outages)
    # history reads fail while PostgreSQL is down, and recover by themselves
    assert all(o.recovery_seconds < 6.0 for o in run.outages)


def test_turns_observed_while_redis_is_down_longer_than_its_retries_are_kept() -> None:
    from benchmarks.reliability.workload import POLICY

    from escalate import Engine, parse_policy
    from escalate.stores.history import open_history_store
    from escalate.stores.redis import RedisSessionStore

    def make_engine(redis_url: str, postgres_url: str) -> Engine:
        return Engine(
            parse_policy(POLICY, affect=False),
            sessions=RedisSessionStore(redis_url, retry_seconds=0.1, timeout=0.5),
            history=open_history_store(postgres_url),
        )

    run = run_faults(
        [Fault(0.8, ("redis",), 1.5)],
        conversations=30,
        user_turns=4,
        workers=4,
        think=0.01,
        make_engine=make_engine,
    )
    assert run.on_error_session > 0  # the outage outlasted the store's retries
    assert (run.lost, run.applied_twice, run.reordered) == (0, 0, 0), run.lost_examples
    assert run.turns_pending_after_flush == 0 and run.turns_dropped == 0
    assert run.contacts_lost == 0
