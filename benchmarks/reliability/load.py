"""Many concurrent conversations through ``aobserve`` on the Redis session store.

``processes`` worker processes each build their own engine (the same policy and model)
on one shared Redis. Every conversation moves between the processes: its user turn *k*
(with the bot turn after it) is observed by process ``(conversation + k) % processes``,
so each turn starts from a state another process saved. In each round every process
advances all its conversations by one turn with ``tasks`` asyncio tasks, a customer
waiting for each answer, and the rounds are separated by a barrier (turn *k + 1* of a
conversation is only sent once turn *k* was answered).

Afterwards every conversation's saved state is compared with a sequential replay of the
same turns in one process (a :class:`~escalate.stores.session.MemorySessionStore`): the
turns (lost, applied twice, reordered) and the whole state (signals, affect scores,
topic, escalation guards).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.reliability.workload import Accounting, script

from escalate import Engine, Turn
from escalate.stores.redis import RedisSessionStore

__all__ = ["LoadRun", "conversations_for", "run_load"]


def conversations_for(count: int, user_turns: int, seed: int) -> dict[str, list[Turn]]:
    """The scripted conversations of a run, with timestamps (the state is reproducible)."""
    rng = random.Random(seed)
    return {f"L{i}": script(f"L{i}", user_turns, rng, timestamps=True) for i in range(count)}


@dataclass
class LoadRun:
    conversations: int = 0
    processes: int = 0
    tasks: int = 0
    user_turns: int = 0
    seconds: float = 0.0
    turns_per_second: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    on_error: int = 0
    lost: int = 0
    applied_twice: int = 0
    reordered: int = 0
    state_mismatches: int = 0
    mismatch_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _engine(redis_url: str, prefix: str, affect: str | None) -> Engine:
    store = RedisSessionStore(redis_url, prefix=prefix, timeout=5.0)
    return Engine.from_policy(
        "default" if affect else "dialogue_only",
        affect=affect,
        sessions=store,
        history="memory://",
    )


def _worker(
    index: int,
    processes: int,
    redis_url: str,
    prefix: str,
    count: int,
    user_turns: int,
    seed: int,
    tasks: int,
    affect: str | None,
    barrier: Any,
) -> tuple[list[float], int, float]:
    """One process: returns (user-turn latencies in seconds, on_error decisions, the time
    spent waiting at barriers)."""
    scripts = conversations_for(count, user_turns, seed)
    engine = _engine(redis_url, prefix, affect)
    latencies: list[float] = []
    on_error = 0
    waited = 0.0

    async def round_(k: int) -> None:
        nonlocal on_error
        mine = [cid for i, cid in enumerate(scripts) if (i + k) % processes == index]
        queue: asyncio.Queue[str] = asyncio.Queue()
        for cid in mine:
            queue.put_nowait(cid)

        async def task() -> None:
            nonlocal on_error
            while not queue.empty():
                cid = queue.get_nowait()
                session = engine.session(cid, customer_id=f"cust-{cid}")
                user, bot = scripts[cid][2 * k], scripts[cid][2 * k + 1]
                started = time.perf_counter()
                decision = await session.aobserve(user)
                latencies.append(time.perf_counter() - started)
                on_error += decision.guard == "on_error"
                await session.aobserve(bot)

        await asyncio.gather(*(task() for _ in range(tasks)))

    for k in range(user_turns):
        started = time.perf_counter()
        barrier.wait()
        waited += time.perf_counter() - started
        asyncio.run(round_(k))
    started = time.perf_counter()
    barrier.wait()
    waited += time.perf_counter() - started
    engine.close()
    return latencies, on_error, waited


def run_load(
    redis_url: str,
    *,
    conversations: int = 1_000,
    user_turns: int = 4,
    processes: int = 2,
    tasks: int = 16,
    affect: str | None = "default",
    seed: int = 0,
) -> LoadRun:
    """Run the load and check every conversation against a sequential replay.

    ``affect="default"`` uses the shipped model and the default policy; ``None`` the
    dialogue-only policy without a model (a quick run).
    """
    prefix = f"escalate-load-{random.Random().getrandbits(40):x}:"
    context = multiprocessing.get_context("spawn")
    result = LoadRun(conversations=conversations, processes=processes, tasks=tasks)
    with context.Manager() as manager:
        barrier = manager.Barrier(processes + 1)
        with context.Pool(processes) as pool:
            pending = [
                pool.apply_async(
                    _worker,
                    (
                        index,
                        processes,
                        redis_url,
                        prefix,
                        conversations,
                        user_turns,
                        seed,
                        tasks,
                        affect,
                        barrier,
                    ),
                )
                for index in range(processes)
            ]
            barrier.wait()  # every worker has built its engine: the clock starts
            started = time.perf_counter()
            for _ in range(user_turns):
                barrier.wait()
            result.seconds = time.perf_counter() - started
            outcomes = [p.get(timeout=3_600) for p in pending]
    latencies = sorted(x for lat, _, _ in outcomes for x in lat)
    result.user_turns = len(latencies)
    result.turns_per_second = result.user_turns / result.seconds
    result.p50_ms = 1000 * statistics.median(latencies)
    result.p99_ms = 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    result.on_error = sum(errors for _, errors, _ in outcomes)

    # -- the saved states against a sequential replay ------------------------------------
    scripts = conversations_for(conversations, user_turns, seed)
    shared = _engine(redis_url, prefix, affect)
    sequential = Engine.from_policy(
        shared.policy, affect=shared.affect, history="memory://", sessions="memory://"
    )
    accounting = Accounting()
    for cid, turns in scripts.items():
        saved = shared.sessions.load(cid)
        accounting.add(turns, saved.turns if saved else ())
        session = sequential.session(cid, customer_id=f"cust-{cid}")
        for turn in turns:
            session.observe(turn)
        expected = session.state()
        if saved is None or expected is None or _fields(saved) != _fields(expected):
            result.state_mismatches += 1
            if len(result.mismatch_examples) < 3:
                result.mismatch_examples.append(_difference(cid, saved, expected))
    result.lost = accounting.lost
    result.applied_twice = accounting.applied_twice
    result.reordered = accounting.reordered
    store = shared.sessions
    assert isinstance(store, RedisSessionStore)
    store.clear()
    shared.close()
    return result


def _fields(state: Any) -> dict[str, Any]:
    """A saved state's fields but the ids of its turns (fresh ones in every run)."""
    return dict(state.model_dump(exclude={"applied"}))


def _difference(cid: str, saved: Any, expected: Any) -> str:
    if saved is None or expected is None:
        return f"{cid}: saved {saved is not None}, replayed {expected is not None}"
    a, b = _fields(saved), _fields(expected)
    keys = [k for k in a if a[k] != b.get(k)]
    return f"{cid}: fields differ: {', '.join(keys)}"
