"""Replay at scale: the local process pool beside a local Ray cluster, side by side.

Run from the project root, when nothing else loads the machine::

    python benchmarks/convert_uss.py                 # the 2,000-conversation USS set
    python benchmarks/synthetic_archive.py --conversations 1000000 --files 20
    python benchmarks/ray_replay.py --write

Two inputs:

* the USS benchmark set of ``benchmarks/replay.py``'s throughput table
  (``benchmarks/out/uss_mwoz.jsonl`` and ``uss_sgd.jsonl``, 2,000 conversations), under
  the default policy and the shipped affect model;
* the synthetic archive (``benchmarks/out/synthetic``): its first 10^5 conversations
  (the first two of 20 files) and all 10^6, under ``dialogue_only`` (no affect model, so
  that a million conversations replay in minutes on two cores).

Each runs with the local pool (``workers=2``) and on a local Ray cluster started once
with 2 CPUs (2 actors): wall time with worker (actor) start-up, conversations a second,
the highest peak resident memory of a worker (``VmHWM`` of the pool's processes or of
the actors, sampled every 0.2 s), and whether the metrics of the two are identical.
Ray's own start-up (``ray.init``) is timed apart: a cluster is started once and kept.
"""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

from _results import replace_section

from escalate.replay import ConversationResult, Inputs, MetricsAccumulator, Runner

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
#: Assumed price of one core-hour on a cloud cluster (on-demand compute-optimised VMs).
PRICE_PER_CORE_HOUR = 0.04


class PeakMemory:
    """Samples the peak resident memory (``VmHWM``) of this process's worker processes
    (its descendants that are pool workers or Ray actors)."""

    MARKERS = ("ray::ReplayActor", "multiprocessing.spawn", "multiprocessing.forkserver")

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.2)

    def sample(self) -> None:
        parents: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(entry.path, "stat").read_text()
                    parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        me = os.getpid()
        for pid in parents:
            ancestor, hops = parents.get(pid), 0
            while ancestor not in (None, 0, 1, me) and hops < 20:
                ancestor, hops = parents.get(ancestor), hops + 1
            if ancestor != me:
                continue  # only this benchmark's own workers, never another program's
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                if not any(m.encode() in cmdline for m in self.MARKERS):
                    continue
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        kib = int(line.split()[1])
                        self.peaks[pid] = max(self.peaks.get(pid, 0), kib * 1024)
            except (OSError, ValueError):
                continue

    @property
    def highest(self) -> int:
        return max(self.peaks.values(), default=0)


def uss_set(folder: Path) -> Path:
    """The 2,000 USS conversations as one file the reader takes: the converter's top-level
    ``domain`` goes into ``metadata`` (written once, under ``benchmarks/out``)."""
    import json

    target = OUT / "ray_bench" / "uss_2000.jsonl"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8") as out:
            for name in ("uss_mwoz.jsonl", "uss_sgd.jsonl"):
                for line in (folder / name).read_text(encoding="utf-8").splitlines():
                    data = json.loads(line)
                    if "domain" in data:
                        data.setdefault("metadata", {})["domain"] = data.pop("domain")
                    out.write(json.dumps(data) + "\n")
    return target


def replay(name: str, source: Any, policy: str, affect: Any, backend: str) -> dict[str, Any]:
    """One timed replay; ``source`` is called for a fresh input."""
    options: dict[str, Any] = {"workers": 2, "progress": False}
    if backend == "ray":
        options["backend"] = "ray"
    acc = MetricsAccumulator()
    turns = 0
    with PeakMemory() as memory:
        runner = Runner(policy, affect=affect, **options)
        start = time.perf_counter()
        for item in runner.run(source()):  # streamed: the driver keeps counts, not results
            if isinstance(item, ConversationResult):
                acc.add(item)
                turns += item.user_turns
            else:
                acc.add_rejected()
        seconds = time.perf_counter() - start
    metrics = acc.result()
    row = {
        "input": name,
        "backend": backend,
        "conversations": metrics["conversations"],
        "user_turns": turns,
        "seconds": seconds,
        "rate": metrics["conversations"] / seconds,
        "peak_worker_mib": memory.highest / 2**20,
        "workers_seen": len(memory.peaks),
        "metrics": metrics,
    }
    print(
        f"{name:>12} {backend:>5}: {row['conversations']:,} conversations in {seconds:.1f} s "
        f"({row['rate']:,.0f}/s), peak worker {row['peak_worker_mib']:.0f} MiB",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", type=Path, default=OUT, help="Folder of uss_*.jsonl")
    parser.add_argument("--synthetic", type=Path, default=OUT / "synthetic")
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--skip-bench", action="store_true")
    parser.add_argument("--write", action="store_true", help="Write RESULTS.md's section")
    args = parser.parse_args()

    import ray

    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - began
    rows: list[dict[str, Any]] = []

    def keep(row: dict[str, Any]) -> None:  # each row is written as soon as it is measured
        rows.append(row)
        if args.write:
            load_now = os.getloadavg()[0]
            replace_section("## Replay on a cluster", render(rows, ray_start, load_before,
                                                             load_now, 0.0))  # fmt: skip

    if not args.skip_bench:
        files = [uss_set(args.bench)]
        for backend in ("local", "ray"):
            keep(replay("USS 2,000", lambda: Inputs(files), "default", "default", backend))
    parts = sorted(args.synthetic.glob("part-*.jsonl.gz"))
    per_file = None
    for size in args.sizes:
        if per_file is None:
            with_first = sum(1 for _ in Inputs(parts[0]))
            per_file = with_first
        chosen = parts[: max(1, -(-size // per_file))]
        label = f"synthetic {per_file * len(chosen):,}"
        for backend in ("local", "ray"):
            keep(replay(label, lambda c=chosen: Inputs(c), "dialogue_only", None, backend))
    ray.shutdown()
    read_rate = 0.0
    if parts:
        start = time.perf_counter()
        read = sum(1 for _ in Inputs(parts[:2]))
        read_rate = read / (time.perf_counter() - start)
        print(f"reading alone: {read_rate:,.0f} conversations/s", flush=True)
    load_after = os.getloadavg()[0]
    body = render(rows, ray_start, load_before, load_after, read_rate)
    print(body)
    if args.write:
        replace_section("## Replay on a cluster", body)


def render(
    rows: list[dict[str, Any]],
    ray_start: float,
    load_before: float,
    load_after: float,
    read_rate: float,
) -> str:
    lines = [
        "## Replay on a cluster",
        "",
        "`python benchmarks/synthetic_archive.py --conversations 1000000 --files 20 && "
        "python benchmarks/ray_replay.py --write` — the local process pool (2 workers) beside "
        f"a local Ray cluster (2 CPUs, 2 actors) on {platform.machine()}, "
        f"{os.cpu_count()} cores; 1-minute load average {load_before:.1f} before and "
        f"{load_after:.1f} after. Worker (actor) start-up is included; Ray's own start "
        f"(`ray.init`, once per session or cluster) took {ray_start:.1f} s and is not. "
        "The USS set runs the default policy with the shipped model; the synthetic archive "
        "(`benchmarks/synthetic_archive.py`, template conversations) runs `dialogue_only`, "
        "without the affect model, so that 10^6 conversations fit in minutes. Peak memory: "
        "the highest `VmHWM` of one worker process or actor.",
        "",
        "| input | backend | conversations | user turns | seconds | conversations/s | "
        "Ray / pool | peak memory per worker | metrics identical |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by_input: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_input.setdefault(row["input"], {})[row["backend"]] = row
    for name, pair in by_input.items():
        local, ray_row = pair.get("local"), pair.get("ray")
        same = local is not None and ray_row is not None and local["metrics"] == ray_row["metrics"]
        for backend, row in pair.items():
            ratio = (
                f"{ray_row['rate'] / local['rate']:.0%}"
                if backend == "ray" and local is not None and ray_row is not None and local["rate"]
                else ""
            )
            lines.append(
                f"| {name} | {backend} | {row['conversations']:,} | {row['user_turns']:,} | "
                f"{row['seconds']:.1f} | {row['rate']:,.0f} | {ratio} | "
                f"{row['peak_worker_mib']:.0f} MiB | {'yes' if same else 'no'} |"
            )
    synthetic = [r for r in rows if r["input"].startswith("synthetic") and r["backend"] == "ray"]
    if synthetic:
        biggest = max(synthetic, key=lambda r: r["conversations"])
        per_core = biggest["rate"] / 2
        hours = 100_000_000 / (per_core * 64) / 3600
        cost = hours * 64 * PRICE_PER_CORE_HOUR
        lines += [
            "",
            f"**100 million conversations on 64 cores (estimate).** Ray on the synthetic "
            f"archive replayed {biggest['rate']:,.0f} conversations a second on 2 cores "
            f"(`dialogue_only`), {per_core:,.0f} per core. At that rate per core, 64 cores "
            f"replay 10^8 conversations in about {hours:.1f} hours, {64 * hours:,.0f} "
            f"core-hours: about ${cost:,.0f} at an assumed ${PRICE_PER_CORE_HOUR:.2f} per "
            "core-hour (on-demand compute-optimised cloud VMs), cluster start-up left out. "
            "It assumes the per-core rate holds on the cluster. With the shipped affect "
            "model the rate per core is the USS row's instead: far more work per "
            "conversation.",
        ]
        if read_rate:
            enough = read_rate >= per_core * 64
            lines[-1] += (
                " One driver reads and parses the whole input: reading alone ran at "
                f"{read_rate:,.0f} conversations a second here, against the "
                f"{per_core * 64:,.0f} a second that 64 cores consume"
                + (
                    ", so one driver keeps up."
                    if enough
                    else ", so at that scale the input is cut into several runs (a driver "
                    "each, their metrics merged with `MetricsAccumulator.merge`)."
                )
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
