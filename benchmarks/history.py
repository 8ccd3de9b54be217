"""History and session stores: history-signal latency on a large history, Redis state I/O.

Run from the project root, with PostgreSQL and Redis running::

    python benchmarks/history.py [--customers 100000] [--contacts 1000000] [--write]

It bulk-loads the same synthetic contact history (``--contacts`` contacts spread over
``--customers`` customers and the last 90 days; 20 topics; a short text each) into SQLite
(a file in a temporary folder) and into PostgreSQL (its own ``bench_history_`` tables,
dropped and created again), then measures, for random customers:

- *lookup by intent*: the history signals when a conversation starts with a known topic
  (one indexed per-customer window query, then the counts);
- *lookup by text*: the same when there is no intent (the window query, then the hashing
  embedder over the customer's earlier texts);
- *observe, first turn*: a whole ``Session.observe`` of a conversation's first user
  turn (dialogue-only policy, no affect model), which reads the history;
- *observe, later turn*: a later user turn, which reuses the signals kept in the state.

and the Redis session store's ``load`` and ``save_if`` (compare-and-set) of a
ten-turn state. ``--write`` replaces the "History and session stores" section of
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _results import replace_section

import escalate
from escalate.affect.embedding import HashingEmbedder
from escalate.engine.state import SessionState
from escalate.signals.history import HistoryLookup
from escalate.stores.redis import RedisSessionStore
from escalate.stores.sql import SQLHistoryStore

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TOPICS = [f"topic_{i:02d}" for i in range(20)]
PHRASES = [
    "my parcel never arrived",
    "I was charged twice for one order",
    "how do I reset my password",
    "I want to cancel my subscription",
    "the app keeps crashing when I log in",
    "can I change my delivery address",
    "my refund has not come through yet",
    "the product arrived damaged",
]
COLUMNS = (
    "conversation_id",
    "customer_id",
    "started_at",
    "ended_at",
    "channel",
    "topic",
    "outcome",
    "final_sentiment",
    "text",
    "recorded_at",
)


def synthetic_rows(customers: int, contacts: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    base = NOW.replace(tzinfo=None)
    outcomes = ("resolved", "resolved", "handed_off", "abandoned")
    for j in range(contacts):
        started = base - timedelta(seconds=rng.randrange(90 * 86_400))
        yield (
            f"conv-{j}",
            f"cust-{rng.randrange(customers)}",
            started,
            started + timedelta(minutes=rng.randrange(1, 30)),
            "chat",
            rng.choice(TOPICS),
            rng.choice(outcomes),
            round(rng.uniform(-1, 1), 3),
            f"{rng.choice(PHRASES)} (order {rng.randrange(10_000)})",
            base,
        )


def chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def bulk_load(store: SQLHistoryStore, customers: int, contacts: int) -> float:
    """Drop and create the store's tables, then load the synthetic history; seconds taken."""
    store.drop()
    engine = store._ensure()
    table = store.contacts.name
    started = time.perf_counter()
    raw: Any = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if store.dialect == "postgresql":
            statement = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
            for chunk in chunks(synthetic_rows(customers, contacts), 100_000):
                with cursor.copy(statement) as copy:
                    for row in chunk:
                        copy.write_row(row)
            raw.commit()
            cursor.execute(f"ANALYZE {table}")
        else:
            marks = ", ".join("?" for _ in COLUMNS)
            statement = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({marks})"
            for chunk in chunks(synthetic_rows(customers, contacts), 100_000):
                cursor.executemany(
                    statement,
                    [
                        (
                            *r[:2],
                            r[2].isoformat(" "),
                            r[3].isoformat(" "),
                            *r[4:9],
                            r[9].isoformat(" "),
                        )
                        for r in chunk
                    ],
                )
            cursor.execute("ANALYZE")
        raw.commit()
        cursor.close()
    finally:
        raw.close()
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50 * 1000, p99 * 1000


def timed(n: int, call: Callable[[int], object]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        call(i)
        out.append(time.perf_counter() - t0)
    return out


def measure_store(
    store: SQLHistoryStore, customers: int, queries: int, seed: int = 11
) -> dict[str, tuple[float, float]]:
    rng = random.Random(seed)
    picks = [f"cust-{rng.randrange(customers)}" for _ in range(queries)]
    lookup = HistoryLookup(store, HashingEmbedder())
    # warm the connection pool and caches a little
    for customer in picks[:50]:
        lookup.signals(customer, now=NOW, topic="topic_01")
    results = {
        "lookup by intent": timed(
            queries, lambda i: lookup.signals(picks[i], now=NOW, topic=TOPICS[i % 20])
        ),
        "lookup by text": timed(
            queries,
            lambda i: lookup.signals(picks[i], now=NOW, text=PHRASES[i % len(PHRASES)]),
        ),
    }
    engine = escalate.Engine(
        escalate.load_policy("dialogue_only", affect=False), history=store, clock=lambda: NOW
    )
    first: list[float] = []
    later: list[float] = []
    for i in range(queries):
        session = engine.session(f"bench-{uuid.uuid4().hex}", customer_id=picks[i])
        t0 = time.perf_counter()
        session.observe(escalate.Turn(role="user", text=PHRASES[i % len(PHRASES)]))
        first.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        session.observe(escalate.Turn(role="user", text="are you still there?"))
        later.append(time.perf_counter() - t0)
    results["observe, first turn"] = first
    results["observe, later turn"] = later
    return {name: percentiles(samples) for name, samples in results.items()}


def measure_redis(url: str, operations: int) -> dict[str, tuple[float, float]]:
    store = RedisSessionStore(url, prefix=f"escalate-bench:{uuid.uuid4().hex[:8]}:")
    turns = tuple(
        escalate.Turn(role="user" if i % 2 == 0 else "bot", text=f"message number {i} " * 4)
        for i in range(10)
    )
    states = [
        SessionState(conversation_id=f"c{i}", customer_id="u1", version=10, turns=turns)
        for i in range(operations)
    ]
    try:
        saves = timed(operations, lambda i: store.save_if(states[i], 0))
        loads = timed(operations, lambda i: store.load(f"c{i}"))
        size = len(states[0].model_dump_json())
    finally:
        store.clear()
        store.close()
    return {
        f"session load ({size:,} B state)": percentiles(loads),
        f"session save_if ({size:,} B state)": percentiles(saves),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "ESCALATE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--redis", default=os.environ.get("ESCALATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()

    rows: list[tuple[str, str, float, float]] = []
    loads: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        backends = [
            (
                "SQLite",
                SQLHistoryStore(
                    f"sqlite:///{Path(folder) / 'history.db'}", table_prefix="bench_history_"
                ),
            ),
            (
                "PostgreSQL",
                SQLHistoryStore(args.postgres, table_prefix="bench_history_", timeout=30),
            ),
        ]
        for name, store in backends:
            seconds = bulk_load(store, args.customers, args.contacts)
            loads.append(f"{name} {seconds:.0f} s")
            print(f"{name}: loaded {args.contacts:,} contacts in {seconds:.1f} s", file=sys.stderr)
            for what, (p50, p99) in measure_store(store, args.customers, args.queries).items():
                rows.append((name, what, p50, p99))
                print(f"  {what}: p50 {p50:.2f} ms, p99 {p99:.2f} ms", file=sys.stderr)
            store.drop()
            store.close()
    for what, (p50, p99) in measure_redis(args.redis, args.queries).items():
        rows.append(("Redis", what, p50, p99))
        print(f"  {what}: p50 {p50:.3f} ms, p99 {p99:.3f} ms", file=sys.stderr)

    command = "python benchmarks/history.py" + (
        f" --customers {args.customers} --contacts {args.contacts} --queries {args.queries}"
    )
    table = "\n".join(
        ["| store | operation | p50 (ms) | p99 (ms) |", "|---|---|---|---|"]
        + [f"| {s} | {w} | {p50:.2f} | {p99:.2f} |" for s, w, p50, p99 in rows]
    )
    body = f"""## History and session stores

`{command} --write` — {args.contacts:,} synthetic contacts of {args.customers:,} customers
over 90 days (about {args.contacts / args.customers * 30 / 90:.1f} per customer in the
30-day window), bulk-loaded into SQLite (a local file) and PostgreSQL on this machine
({", ".join(loads)}), then {args.queries:,} random customers per row. *Lookup* is the
history signals at a conversation's start: one indexed `(customer_id, started_at)`
window query plus the counts; *by text* adds the hashing embedder over the customer's
earlier texts (no intent). *Observe* is a whole `Session.observe` (dialogue-only policy,
no affect model, in-memory sessions): the first user turn reads the history, later turns
reuse the signals kept in the session state. Redis rows are one round trip each to a
local server. {platform.processor() or platform.machine()}, Python {platform.python_version()},
{os.cpu_count()} cores shared with other work, so treat p99 as indicative.

{table}
"""
    print(body)
    if args.write:
        replace_section("## History and session stores", body)


if __name__ == "__main__":
    main()
