"""Engine speed: load time, per-turn decision latency and single-thread throughput.

Run from the project root::

    python benchmarks/engine.py [--repeat 200] [--write]

It replays the shipped example conversations through ``Session.observe`` with the
dialogue-only policy (no model) and with the default policy and the shipped affect
model, side by side, and prints a Markdown table. ``--write`` replaces the "Engine"
section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _results import replace_section

import escalate
from escalate.models import Conversation

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "conversations.jsonl"


def load_examples() -> list[Conversation]:
    return [
        Conversation.model_validate(json.loads(line)) for line in EXAMPLES.read_text().splitlines()
    ]


def shipped_model(cache_size: int) -> Callable[[], Any]:
    def build() -> Any:
        from escalate.affect import OnnxAffectModel

        return OnnxAffectModel.default(cache_size=cache_size)

    return build


def measure(
    policy: str,
    affect: Callable[[], Any] | None,
    conversations: list[Conversation],
    repeat: int,
) -> dict[str, float]:
    start = time.perf_counter()
    engine = escalate.Engine.from_policy(policy, affect=affect() if affect else None)
    load_s = time.perf_counter() - start
    latencies: list[float] = []
    user_turns = 0
    start = time.perf_counter()
    for r in range(repeat):
        for conversation in conversations:
            session = engine.session(f"{conversation.id}-{r}")
            for turn in conversation.turns:
                t0 = time.perf_counter()
                session.observe(turn)
                if turn.role == "user":
                    latencies.append(time.perf_counter() - t0)
                    user_turns += 1
    observe_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(repeat):
        for conversation in conversations:
            engine.decide(conversation)
    decide_s = time.perf_counter() - start
    latencies.sort()
    return {
        "load_ms": load_s * 1000,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "observe_turns_per_s": user_turns / observe_s,
        "decide_turns_per_s": user_turns / decide_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="times the example set is replayed")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    conversations = load_examples()
    rows = [
        ("dialogue_only, no model", measure("dialogue_only", None, conversations, args.repeat)),
        (
            "default, shipped model, no text cache",
            measure("default", shipped_model(0), conversations, args.repeat),
        ),
        (
            "default, shipped model, text cache (every message a repeat after the first pass)",
            measure("default", shipped_model(8192), conversations, args.repeat),
        ),
    ]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "## Engine",
        "",
        f"`python benchmarks/engine.py --repeat {args.repeat} --write` — {datetime.now(UTC):%Y-%m-%d}, "
        f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}.",
        "The shipped example conversations, replayed turn by turn through `Session.observe` "
        "(latency per user turn) and through `Engine.decide` (one model call per conversation). "
        "The shipped model keeps the scores of the texts it has seen; the example set is "
        "replayed many times, so with the cache on every pass after the first is answered "
        "from memory: that row is the cost of the engine around a cached message, the row "
        "without the cache the cost of a new one.",
        "",
        "| configuration | engine load (ms) | observe p50 (ms) | observe p99 (ms) | observe (user turns/s) | decide (user turns/s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in rows:
        lines.append(
            f"| {name} | {m['load_ms']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
            f"{m['observe_turns_per_s']:,.0f} | {m['decide_turns_per_s']:,.0f} |"
        )
    lines += ["", f"Peak resident memory of the benchmark process: {peak_mb:.0f} MB.", ""]
    table = "\n".join(lines)
    print(table)
    if args.write:
        replace_section("## Engine", table)


if __name__ == "__main__":
    main()
