"""Run the reliability benchmark; ``--write`` puts its figures in ``benchmarks/RESULTS.md``.

Run from the project root (``redis-server`` and the PostgreSQL binaries installed; the
servers used are private ones this starts, never the machine's own)::

    python -m benchmarks.reliability faults      # servers killed and restarted
    python -m benchmarks.reliability load        # 1,000 concurrent conversations
    python -m benchmarks.reliability hostile     # 10,000 generated cases per target
    python -m benchmarks.reliability accounting  # replay with bad records, 1/2/4 workers
    python -m benchmarks.reliability write       # the section of RESULTS.md, from the above

Each part saves its figures (and the command that made them) under
``benchmarks/out/reliability/``; ``write`` (or ``--write`` on any part) builds the
"Reliability" section of ``benchmarks/RESULTS.md`` from every part saved so far; a part
with no saved figures keeps its subsection as ``RESULTS.md`` has it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shlex
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks._results import RESULTS, replace_section

OUT = Path(__file__).resolve().parents[1] / "out" / "reliability"
HEADING = "## Reliability: faults, load, hostile input, accounting"


def _save(part: str, figures: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    figures["command"] = "python -m benchmarks.reliability " + shlex.join(sys.argv[1:])
    figures["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    figures["date"] = time.strftime("%Y-%m-%d")
    (OUT / f"{part}.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


# -- faults ---------------------------------------------------------------------------------


def faults(args: argparse.Namespace) -> None:
    from benchmarks.reliability.faults import Fault, run_faults

    from escalate import Engine
    from escalate.stores.redis import RedisSessionStore

    def engine(retry: float) -> Any:
        def make(redis_url: str, postgres_url: str) -> Engine:
            store = RedisSessionStore(redis_url, retry_seconds=retry)
            return Engine.from_policy("default", sessions=store, history=postgres_url)

        return make

    restarts = [
        Fault(3, ("redis",), 1.0),
        Fault(9, ("postgres",), 2.0),
        Fault(16, ("redis", "postgres"), 1.0),
        Fault(22, ("redis",), 0.2),
    ]
    long_outage = [Fault(3, ("redis",), 6.0)]
    scenarios = [
        ("restarts, retry 2 s (default)", restarts, 2.0),
        ("restarts, retry 0 s", restarts, 0.0),
        ("Redis down 6 s, retry 2 s", long_outage, 2.0),
    ]
    runs = []
    for name, schedule, retry in scenarios:
        print(f"-- {name}", flush=True)
        result = run_faults(
            schedule,
            conversations=args.conversations,
            workers=args.workers,
            make_engine=engine(retry),
            log=lambda m: print(m, flush=True),
        )
        runs.append({"scenario": name, **result.as_dict()})
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "outages"}), flush=True)
    _save("faults", {"runs": runs, "workers": args.workers})


# -- load -----------------------------------------------------------------------------------


def load(args: argparse.Namespace) -> None:
    from benchmarks.reliability.load import run_load
    from benchmarks.reliability.servers import RedisServer

    with RedisServer.running_server() as server:
        result = run_load(
            server.url,
            conversations=args.conversations,
            user_turns=args.turns,
            processes=args.processes,
            tasks=args.tasks,
            affect=None if args.no_affect else "default",
        )
    print(json.dumps(result.as_dict(), indent=2))
    _save("load", {**result.as_dict(), "model": not args.no_affect})


# -- hostile input --------------------------------------------------------------------------


def _hostile_one(name: str, examples: int, seed: int) -> dict[str, Any]:
    logging.disable(logging.WARNING)
    from benchmarks.reliability.hostile import run_target

    result = run_target(name, examples, seed=seed)
    print(
        f"{name}: {result.cases:,} cases, {result.crashes} crashes, {result.seconds:.0f} s",
        flush=True,
    )
    return result.__dict__


def hostile(args: argparse.Namespace) -> None:
    from benchmarks.reliability.hostile import TARGETS

    names = args.targets or list(TARGETS)
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(
            pool.map(_hostile_one, names, [args.examples] * len(names), [args.seed] * len(names))
        )
    for result in results:
        if result["failure"]:
            print(f"{result['name']} failed:\n{result['failure']}")
    _save("hostile", {"targets": results, "examples": args.examples, "seed": args.seed})


# -- accounting -----------------------------------------------------------------------------


def accounting(args: argparse.Namespace) -> None:
    from benchmarks.reliability.accounting import KINDS, replay_accounting, write_file

    rng = random.Random(args.seed)
    bad = [k for k in KINDS if k != "good"]
    kinds = [rng.choice(bad) if rng.random() < args.bad else "good" for _ in range(args.records)]
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chats.jsonl.gz"
        expected = write_file(path, kinds, compress=True)
        for workers in args.workers:
            run = replay_accounting(path, expected, workers=workers)
            print(json.dumps(run.as_dict()), flush=True)
            runs.append(run.as_dict())
    _save("accounting", {"lines": args.records, "bad_share": args.bad, "runs": runs})


# -- RESULTS.md -----------------------------------------------------------------------------


def _load(part: str) -> dict[str, Any] | None:
    path = OUT / f"{part}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _published(title: str) -> list[str]:
    """The subsection ``### title`` of the Reliability section as RESULTS.md has it now
    (its heading first, no blank line at either end), or none."""
    if not RESULTS.exists():
        return []
    text = RESULTS.read_text(encoding="utf-8")
    if HEADING not in text:
        return []
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    start = section.find(f"### {title}")
    if start < 0:
        return []
    body = section[start:].split("\n### ", 1)[0]
    return ["", *body.strip().splitlines()]


def write(_: argparse.Namespace | None = None) -> None:
    lines = [
        HEADING,
        "",
        "Private Redis and PostgreSQL servers (started on free ports, data in temporary",
        "folders) stand in for production ones; nothing here touches the machine's own.",
        "The tests in `tests/reliability/` run the same code at a small scale in CI.",
    ]
    figures = _load("faults")
    title = "Faults: servers killed (SIGKILL) and restarted while sessions are observed"
    if not figures:
        lines += _published(title)
    else:
        lines += [
            "",
            f"### {title}",
            "",
            f"`{figures['command']}` ({figures['machine']}, {figures['date']}). The default "
            f"policy and the shipped model, {figures['workers']} threads playing conversations "
            "(a customer waits for each answer), sessions in Redis (append-only file, "
            "`appendfsync always`), history in PostgreSQL (`fsync` on). *Lost*: turns "
            "`observe` answered that are missing from the saved state afterwards, once "
            "`engine.flush_sessions()` applied the turns still waiting in memory for Redis "
            "(*waiting at the end*: how many waited when the last conversation was played; "
            "*dropped*: turns the bounded queue dropped); *twice*: turns saved twice; "
            "*on_error*: user-turn decisions that fell back to the policy's `on_error` (because "
            "of Redis / of PostgreSQL); *contacts lost*: ended conversations missing from the "
            "history after `flush_history()`; *recovery*: the longest time after a server was "
            "back during which turns still failed for want of it.",
            "",
            "| scenario | conversations | user turns | lost | twice | reordered | waiting at the end | dropped | on_error (Redis / PostgreSQL) | contacts lost | recovery |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for run in figures["runs"]:
            recovery = max((o["recovery_seconds"] for o in run["outages"]), default=0.0)
            lines.append(
                f"| {run['scenario']} | {run['conversations']:,} | {run['user_turns']:,} | "
                f"{run['lost']:,} | {run['applied_twice']:,} | {run['reordered']:,} | "
                f"{run['turns_waiting_at_end']:,} | {run['turns_dropped']:,} | "
                f"{run['on_error']:,} ({run['on_error_session']:,} / {run['on_error_history']:,}) | "
                f"{run['contacts_lost']:,} | {recovery:.2f} s |"
            )
        lines += [
            "",
            "With the default 2 s of retries a Redis restart costs the turns that meet it a "
            "delay. Without retries (`retry_seconds=0`), or in an outage longer than that "
            "budget, the turns that meet it are answered with `on_error` and wait in the "
            "engine's queue of unsaved turns; each conversation's next turn applies its own "
            "first, in order, and `engine.flush_sessions()` the rest (those of conversations "
            "that had no turn left once Redis was back), so none is lost and none is applied "
            "twice. Without retries a failed turn is answered at once, so the conversations in "
            "play when Redis goes down run to their end during the outage: theirs are the "
            "turns still waiting at the end. While PostgreSQL is down, conversations whose history cannot be read "
            "follow `on_error`, by design; after a failed read the engine leaves the history "
            "store alone for 5 s, which is the recovery seen once PostgreSQL is back.",
        ]
        lines += ["", "Outages of the first scenario:", ""]
        lines += [
            "| server | down at | back at | restart took | failures | recovery |",
            "|---|---|---|---|---|---|",
        ]
        for o in figures["runs"][0]["outages"]:
            lines.append(
                f"| {o['server']} | {o['killed_at']:.1f} s | {o['back_at']:.1f} s | "
                f"{o['restart_seconds']:.2f} s | {o['failures']:,} | {o['recovery_seconds']:.2f} s |"
            )
    figures = _load("load")
    title = "Load: concurrent conversations through `aobserve` on Redis"
    if not figures:
        lines += _published(title)
    else:
        model = "the shipped model and the default policy" if figures["model"] else "no model"
        lines += [
            "",
            f"### {title}",
            "",
            f"`{figures['command']}` ({figures['machine']}, {figures['date']}). "
            f"{figures['conversations']:,} conversations open at once, {figures['processes']} "
            f"processes × {figures['tasks']} asyncio tasks, {model}; every user turn moves the "
            "conversation to the other process. Latency is one `aobserve` of a user turn, "
            "queueing for the engine's threads included. Afterwards every saved state is "
            "compared with a sequential replay of the same turns in one process. The two "
            "cores were shared with other work during the run: the speed is a floor.",
            "",
            "| user turns | seconds | user turns/s | p50 | p99 | on_error | lost | twice | reordered | states unlike the sequential replay |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {figures['user_turns']:,} | {figures['seconds']:.1f} | {figures['turns_per_second']:,.0f} | "
            f"{figures['p50_ms']:.0f} ms | {figures['p99_ms']:.0f} ms | {figures['on_error']} | "
            f"{figures['lost']} | {figures['applied_twice']} | {figures['reordered']} | "
            f"{figures['state_mismatches']} |",
        ]
    figures = _load("hostile")
    title = "Hostile input: generated cases (hypothesis)"
    if not figures:
        lines += _published(title)
    else:
        lines += [
            "",
            f"### {title}",
            "",
            f"`{figures['command']}` ({figures['machine']}, {figures['date']}, seed "
            f"{figures['seed']}). A crash is any exception but escalate's own `InputError` / "
            "`PolicyError`, or a valid record not kept (see `benchmarks/reliability/hostile.py` "
            "for what each target generates and checks).",
            "",
            "| target | cases | crashes | seconds |",
            "|---|---|---|---|",
        ]
        for t in figures["targets"]:
            lines.append(f"| {t['name']} | {t['cases']:,} | {t['crashes']} | {t['seconds']:.0f} |")
    figures = _load("accounting")
    title = "Nothing lost: replay over a file with bad records"
    if not figures:
        lines += _published(title)
    else:
        lines += [
            "",
            f"### {title}",
            "",
            f"`{figures['command']}` ({figures['machine']}, {figures['date']}). "
            f"{figures['lines']:,} lines (gzip JSON Lines), {figures['bad_share']:.0%} of them "
            "bad (broken JSON, unknown roles, no content, bytes that are not UTF-8, over-long "
            "texts, wrong shapes) or blank. Every record must come out once, in order, with its "
            "line and id. The replay runs without the model (dialogue-only policy), so a record "
            "is little work and more processes only add their start-up and transfers.",
            "",
            "| workers | records read | decided | rejected | decided + rejected = read | mismatches | seconds |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in figures["runs"]:
            lines.append(
                f"| {r['workers']} | {r['records']:,} | {r['decided']:,} | {r['rejected']:,} | "
                f"{'yes' if r['balanced'] else 'NO'} | {len(r['mismatches'])} | {r['seconds']:.1f} |"
            )
    replace_section(HEADING, "\n".join(lines) + "\n")
    print("wrote the reliability section of benchmarks/RESULTS.md")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reliability", description=__doc__)
    parts = parser.add_subparsers(dest="part", required=True)
    p = parts.add_parser("faults", help="kill and restart Redis and PostgreSQL")
    p.add_argument("--conversations", type=int, default=300)
    p.add_argument("--workers", type=int, default=8)
    p.set_defaults(run=faults)
    p = parts.add_parser("load", help="concurrent conversations through aobserve")
    p.add_argument("--conversations", type=int, default=1_000)
    p.add_argument("--turns", type=int, default=4, help="user turns per conversation")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--tasks", type=int, default=16, help="asyncio tasks per process")
    p.add_argument("--no-affect", action="store_true")
    p.set_defaults(run=load)
    p = parts.add_parser("hostile", help="generated hostile input")
    p.add_argument("--examples", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--targets", nargs="*")
    p.set_defaults(run=hostile)
    p = parts.add_parser("accounting", help="replay with bad records")
    p.add_argument("--records", type=int, default=20_000)
    p.add_argument("--bad", type=float, default=0.3)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=accounting)
    p = parts.add_parser("write", help="write RESULTS.md from the saved figures")
    p.set_defaults(run=write)
    for sub in parts.choices.values():
        sub.add_argument("--write", action="store_true", help="then update benchmarks/RESULTS.md")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the store failures are the point; their log is noise
    args.run(args)
    if args.write and args.run is not write:
        write()


if __name__ == "__main__":
    main()
