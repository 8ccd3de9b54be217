"""Start-up cost: ``import escalate``, ``escalate --help`` and the first engine, each in a
fresh interpreter.

Run from the project root::

    python benchmarks/startup.py [--runs 21] [--before SRC] [--write]

Every command runs ``--runs`` times in a new Python process (after one warm-up run, so
the files are in the page cache); the table gives the median wall and CPU (user + system)
time of the whole process (CPU time varies less than wall time on a busy machine), the
median time of escalate's imports alone (``python -X importtime``: the
cumulative time of every ``escalate`` module imported at the top level, lazily imported
ones included) and which heavy modules the command loaded.
``--before SRC`` measures another source tree side by side (an older revision's ``src``
folder, put first on ``PYTHONPATH``; ``git archive REV src policies | tar -x -C /tmp/escalate-REV``
makes one). ``--write`` replaces the "Start-up" section of
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from _results import replace_section

ROOT = Path(__file__).resolve().parents[1]
#: Modules whose import is what start-up should not pay for.
HEAVY = ("sqlalchemy", "onnxruntime", "numpy", "matplotlib", "asyncio", "tokenizers")

COMMANDS: dict[str, str] = {
    "python (an empty interpreter)": "pass",
    "import escalate": "import escalate",
    "escalate --help": (
        "import sys; sys.argv = ['escalate', '--help']\n"
        "from escalate.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    ),
    "first engine (dialogue_only, no model, no history)": (
        "import escalate; escalate.Engine.from_policy('dialogue_only', affect=None, history=None)"
    ),
}


def _environment(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    return env


def _once(code: str, env: dict[str, str]) -> tuple[float, float, float, list[str]]:
    """Wall seconds, CPU seconds, escalate's import seconds and the heavy modules loaded,
    for one run."""
    probe = (
        f"{code}\nimport sys, json\n"
        f"print('heavy:', json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]), "
        "file=sys.stderr)"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = done.stderr.splitlines()
    heavy: list[str] = json.loads(next(x for x in lines if x.startswith("heavy:"))[6:])
    imported = 0.0
    for line in lines:  # "import time: self [us] | cumulative | name", nested names indented
        parts = line.split("|")
        name = parts[2].rstrip() if len(parts) == 3 else ""
        if name.startswith(" escalate") and not name.startswith("  "):
            imported += int(parts[1]) / 1e6
    return wall, cpu, imported, heavy


def measure(code: str, runs: int, src: Path | None) -> dict[str, object]:
    env = _environment(src)
    _once(code, env)  # warm-up: files into the page cache
    walls, cpus, imports = [], [], []
    heavy: list[str] = []
    for _ in range(runs):
        wall, cpu, imported, heavy = _once(code, env)
        walls.append(wall)
        cpus.append(cpu)
        imports.append(imported)
    return {
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "import_s": statistics.median(imports),
        "heavy": heavy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="fresh processes per command")
    parser.add_argument("--before", type=Path, help="another source tree to measure beside")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    trees: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.before is not None:
        trees.insert(0, (f"before (`{args.before}`)", args.before.resolve()))
    rows = []
    for tree, src in trees:
        for name, code in COMMANDS.items():
            if src is not None and name.startswith("python"):
                continue
            rows.append((tree, name, measure(code, args.runs, src)))
    command = "python benchmarks/startup.py"
    if args.runs != 21:
        command += f" --runs {args.runs}"
    if args.before is not None:
        command += f" --before {args.before}"
    lines = [
        "## Start-up",
        "",
        f"`{command} --write` — {datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}. Each command in a "
        f"fresh interpreter, median of {args.runs} runs: the whole process (wall and CPU "
        "time; the machine is shared, so compare rows of one run), escalate's "
        "imports alone (`-X importtime`, every escalate module and what it pulls in), and "
        "the heavy modules it loaded "
        f"(of {', '.join(HEAVY)}). `import escalate` loads only the package and its errors; "
        "every other public name is imported on first use.",
        "",
        "| tree | command | process wall (ms) | process CPU (ms) | escalate imports (ms) "
        "| heavy modules loaded |",
        "|---|---|---:|---:|---:|---|",
    ]
    for tree, name, m in rows:
        heavy = ", ".join(m["heavy"]) or "none"  # type: ignore[arg-type]
        imported = f"{m['import_s'] * 1000:.0f}" if m["import_s"] else "–"  # type: ignore[operator]
        lines.append(
            f"| {tree} | {name} | {m['wall_s'] * 1000:.0f} | {m['cpu_s'] * 1000:.0f} "  # type: ignore[operator]
            f"| {imported} | {heavy} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.write:
        replace_section("## Start-up", table)


if __name__ == "__main__":
    main()
