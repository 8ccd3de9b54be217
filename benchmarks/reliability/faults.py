"""Observe conversations while the session and history servers are killed and restarted.

An engine keeps its sessions in a private Redis and its contact history in a private
PostgreSQL (:mod:`benchmarks.reliability.servers`); worker threads play scripted
conversations through :meth:`escalate.Session.observe`, a customer waiting for each
answer, while a schedule kills each server (SIGKILL), keeps it down a while and starts
it again. Every turn carries a unique id in its metadata, so that afterwards, with the
servers back, the run can count:

- **lost**: turns that ``observe`` answered but that are missing from the conversation's
  saved state, once ``engine.flush_sessions()`` applied the turns that waited in memory
  for the session store (how many waited when the run ended, and how many the bounded
  queue dropped, are counted too);
- **applied twice**: turns present more than once;
- **reordered**: conversations whose saved turns are not in the order they were observed;
- **on_error**: user-turn decisions that fell back to the policy's ``on_error``;
- **contacts lost**: conversations ended (``session.end()``) whose contact never reached
  the history store, after ``engine.flush_history()``;
- per outage, how long the server was down and how long after it came back the engine
  still failed (**recovery**), without anything being restarted on the engine's side.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.reliability.servers import PostgresServer, RedisServer
from benchmarks.reliability.workload import POLICY, Accounting, script

from escalate import Engine, Turn
from escalate.models import Decision

__all__ = ["Fault", "FaultRun", "Outage", "run_faults"]


@dataclass(frozen=True)
class Fault:
    """Kill ``servers`` at ``at`` seconds into the run and start them ``down`` seconds later."""

    at: float
    servers: tuple[str, ...]  # "redis", "postgres"
    down: float


@dataclass
class Outage:
    server: str
    killed_at: float
    back_at: float = 0.0
    restart_seconds: float = 0.0
    #: How long after the server was back the engine still failed for want of it.
    recovery_seconds: float = 0.0
    failures: int = 0


@dataclass
class FaultRun:
    conversations: int = 0
    turns: int = 0
    user_turns: int = 0
    lost: int = 0
    applied_twice: int = 0
    reordered: int = 0
    on_error: int = 0
    on_error_session: int = 0
    on_error_history: int = 0
    contacts_expected: int = 0
    contacts_lost: int = 0
    contacts_pending_after_flush: int = 0
    #: Turns waiting in memory for the session store when the last conversation was played.
    turns_waiting_at_end: int = 0
    turns_pending_after_flush: int = 0
    turns_dropped: int = 0
    seconds: float = 0.0
    outages: list[Outage] = field(default_factory=list)
    lost_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["outages"] = [o.__dict__ for o in self.outages]
        return data


def _failure(decision: Decision) -> str | None:
    """Which store made a user-turn decision fall back to ``on_error``, if any."""
    if decision.guard != "on_error":
        return None
    details = " ".join(r.detail or "" for r in decision.reasons if r.code == "on_error")
    if "session store" in details:
        return "redis"
    if "history store" in details:
        return "postgres"
    return "other"


def run_faults(
    faults: Sequence[Fault],
    *,
    conversations: int = 200,
    user_turns: int = 6,
    workers: int = 8,
    think: float = 0.02,
    customers: int = 40,
    affect: Any = None,
    seed: int = 0,
    make_engine: Callable[[str, str], Engine] | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> FaultRun:
    """Play ``conversations`` through an engine on private servers while ``faults`` happen.

    ``make_engine(redis_url, postgres_url)`` builds the engine (default: the policy above
    with ``affect``). Each worker plays one conversation at a time, waiting ``think``
    seconds between turns; the run lasts at least until the last fault is over.
    """
    rng = random.Random(seed)
    scripts: dict[str, list[Turn]] = {}
    owners: dict[str, str] = {}
    redis_server, pg_server = RedisServer(), PostgresServer()
    servers = {"redis": redis_server, "postgres": pg_server}
    result = FaultRun()
    try:
        redis_server.start()
        pg_server.start()
        if make_engine is None:
            from escalate import parse_policy

            policy = parse_policy(POLICY, affect=affect is not None)
            engine = Engine.from_policy(
                policy, affect=affect, sessions=redis_server.url, history=pg_server.url
            )
        else:
            engine = make_engine(redis_server.url, pg_server.url)
        events: list[tuple[float, str | None]] = []  # (time, store that failed or None)
        lock = threading.Lock()
        start = time.monotonic()
        last_fault_end = max((f.at + f.down for f in faults), default=0.0)

        def next_conversation() -> tuple[str, list[Turn]] | None:
            """A new conversation while fewer than ``conversations`` were played or the
            faults are not all over; ``None`` when the run is done."""
            with lock:
                if len(scripts) >= conversations and time.monotonic() - start > last_fault_end + 1:
                    return None
                cid = f"c{len(scripts)}"
                scripts[cid] = script(cid, user_turns, rng)
                owners[cid] = f"cust-{rng.randrange(customers)}"
                return cid, scripts[cid]

        def worker() -> None:
            while (item := next_conversation()) is not None:
                cid, turns = item
                session = engine.session(cid, customer_id=owners[cid])
                for turn in turns:
                    decision = session.observe(turn)
                    if turn.role == "user":
                        with lock:
                            events.append((time.monotonic() - start, _failure(decision)))
                    time.sleep(think)

        def saboteur() -> None:
            for fault in sorted(faults, key=lambda f: f.at):
                time.sleep(max(0.0, fault.at - (time.monotonic() - start)))
                killed = time.monotonic() - start
                for name in fault.servers:
                    servers[name].kill()
                    log(f"{killed:6.2f} s  killed {name}")
                time.sleep(fault.down)
                for name in fault.servers:
                    took = servers[name].start()
                    back = time.monotonic() - start
                    log(f"{back:6.2f} s  {name} back (start took {took:.2f} s)")
                    result.outages.append(
                        Outage(name, killed_at=killed, back_at=back, restart_seconds=took)
                    )

        threads = [threading.Thread(target=worker) for _ in range(workers)]
        chaos = threading.Thread(target=saboteur)
        for thread in [chaos, *threads]:
            thread.start()
        for thread in [chaos, *threads]:
            thread.join()
        result.seconds = time.monotonic() - start

        for outage in result.outages:
            later = [
                o.killed_at
                for o in result.outages
                if o.server == outage.server and o.killed_at > outage.killed_at
            ]
            until = min(later, default=float("inf"))
            failed = [
                t for t, store in events if store == outage.server and outage.killed_at <= t < until
            ]
            outage.failures = len(failed)
            if failed:
                outage.recovery_seconds = max(0.0, max(failed) - outage.back_at)

        # -- accounting, with both servers up -------------------------------------------
        result.turns_waiting_at_end = engine.pending_turns
        deadline = time.monotonic() + 30
        while engine.flush_sessions() and time.monotonic() < deadline:
            time.sleep(0.5)
        result.turns_pending_after_flush = engine.pending_turns
        result.turns_dropped = engine.dropped_turns
        result.conversations = len(scripts)
        result.user_turns = len(events)
        result.on_error = sum(store is not None for _, store in events)
        result.on_error_session = sum(store == "redis" for _, store in events)
        result.on_error_history = sum(store == "postgres" for _, store in events)
        accounting = Accounting()
        for cid, turns in scripts.items():
            state = engine.sessions.load(cid)
            missing = accounting.add(turns, state.turns if state else ())
            result.lost_examples.extend(missing[: max(0, 5 - len(result.lost_examples))])
        result.turns = accounting.turns
        result.lost = accounting.lost
        result.applied_twice = accounting.applied_twice
        result.reordered = accounting.reordered
        for cid in scripts:
            engine.session(cid, customer_id=owners[cid]).end()
        result.contacts_expected = len(scripts)
        deadline = time.monotonic() + 30
        while engine.flush_history() and time.monotonic() < deadline:
            time.sleep(0.5)
        result.contacts_pending_after_flush = engine.pending_contacts
        history = engine.history
        assert history is not None
        result.contacts_lost = sum(history.get(cid) is None for cid in scripts)
        engine.close()
        return result
    finally:
        redis_server.close()
        pg_server.close()
