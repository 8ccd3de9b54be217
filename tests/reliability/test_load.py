"""Concurrent conversations through ``aobserve`` on Redis, moving between two processes."""

from __future__ import annotations

from benchmarks.reliability.load import run_load
from benchmarks.reliability.servers import RedisServer


def test_every_conversation_matches_a_sequential_replay() -> None:
    with RedisServer.running_server() as server:
        run = run_load(
            server.url, conversations=60, user_turns=3, processes=2, tasks=4, affect=None
        )
    assert run.user_turns == 60 * 3
    assert (run.lost, run.applied_twice, run.reordered, run.on_error) == (0, 0, 0, 0)
    assert run.state_mismatches == 0, run.mismatch_examples
    assert run.turns_per_second > 0 and run.p50_ms <= run.p99_ms
