"""Explorer benchmark: the replay report's conversation explorer for 100,000 conversations.

Run from the project root::

    python benchmarks/explorer.py [--conversations 100000] [--write]

It makes synthetic labelled conversations (seeded; messages drawn from a small set of
customer and bot lines, fallbacks and requests for a person at random), replays them
with ``dialogue_only`` (no model, signals kept), then measures:

* writing the explorer (``ExplorerWriter``: the list, detail and search shards) against
  writing the same per-conversation records as one JSON file ("the JSON alone"), each
  the best of three;
* ``escalate replay --report`` against ``escalate replay --json`` end to end on the same
  file (the report adds the plots, the sweep and the explorer);
* in headless Chromium (Debian's ``chromium``), opening ``conversations.html`` from disk:
  time from navigation to the first page of the list being interactive, a filter by
  outcome, a text search (which loads the search shards) and opening a conversation.

``--write`` replaces the "Explorer" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _results import replace_section

from escalate.models import Conversation, Turn
from escalate.replay.explorer import ExplorerWriter, conversation_record
from escalate.replay.runner import ConversationResult, Runner, collect

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

ASKS = ["Where is my parcel?", "I was charged twice this month.", "How do I change my address?",
        "My refund has not arrived yet.", "Can I cancel my subscription?",
        "The app keeps logging me out."]  # fmt: skip
FOLLOW = ["It still hasn't arrived.", "That doesn't answer my question.", "ok", "thanks",
          "no, that's wrong", "I already told you the order number", "hello?"]  # fmt: skip
HUMAN = ["Let me talk to a person.", "Get me an agent please."]
BOT = ["Let me check that for you.", "Here is our help page about that.", "Anything else?"]


def synthetic(n: int, seed: int = 7) -> list[Conversation]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        turns = [Turn(role="user", text=rng.choice(ASKS))]
        needs = rng.random() < 0.3
        for _ in range(rng.randint(1, 6)):
            if rng.random() < (0.45 if needs else 0.1):
                turns.append(Turn(role="bot", event="fallback"))
            else:
                turns.append(Turn(role="bot", text=rng.choice(BOT)))
            asks_human = needs and rng.random() < 0.2
            turns.append(Turn(role="user", text=rng.choice(HUMAN if asks_human else FOLLOW)))
        label = {"escalate": needs, "turn": len(turns) - 1 if needs else None}
        out.append(Conversation(id=f"synthetic-{i:06d}", turns=turns, label=label))
    return out


def best_of(times: int, run: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def write_json(
    path: Path, runner: Runner, pairs: list[tuple[Conversation, ConversationResult]]
) -> None:
    records = [conversation_record(runner.policy, c, r) for c, r in pairs]
    # one call of the C encoder, the fastest way to write it
    path.write_text(
        json.dumps(records, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )


def write_explorer(
    folder: Path, runner: Runner, pairs: list[tuple[Conversation, ConversationResult]]
) -> None:
    with ExplorerWriter(folder, runner.policy) as explorer:
        for conversation, result in pairs:
            explorer.add(conversation, result)


def replay_cli(data: Path, extra: list[str]) -> float:
    command = [sys.executable, "-m", "escalate", "replay", str(data), "--policy", "dialogue_only",
               "--no-affect", "--workers", "2", "--no-progress", *extra]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def browser(page_path: Path) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    out: dict[str, float] = {}
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = chromium.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for attempt in range(3):
            page.goto(page_path.as_uri() + f"?run={attempt}")
            page.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)
            ready = page.evaluate("window.ESCALATE_READY")
            out["interactive_ms"] = min(out.get("interactive_ms", float("inf")), ready)
        start = time.perf_counter()
        page.select_option("#outcome", "n")
        page.wait_for_function("document.querySelector('#list tbody tr') !== null")
        out["filter_ms"] = (time.perf_counter() - start) * 1000
        before = page.inner_text("#status")
        start = time.perf_counter()
        page.fill("#search", "refund")
        page.wait_for_function(
            "([before]) => { const s = document.getElementById('status').textContent;"
            " return s !== before && s.includes('shown'); }",
            arg=[before],
            timeout=120_000,
        )
        out["first_search_ms"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        page.click("#list tbody tr:nth-child(3)")
        page.wait_for_selector("#detail-view svg[data-signal='score']")
        out["open_ms"] = (time.perf_counter() - start) * 1000
        chromium.close()
        if errors:
            raise RuntimeError(f"page errors: {errors}")
    return out


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    n = args.conversations
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        conversations = synthetic(n)
        data = root / "synthetic.jsonl"
        data.write_text(
            "".join(c.model_dump_json(exclude_defaults=True) + "\n" for c in conversations)
        )
        runner = Runner("dialogue_only", affect=None, workers=2, keep_signals=True, progress=False)
        start = time.perf_counter()
        results, _ = collect(runner.run(conversations))
        replay_s = time.perf_counter() - start
        pairs = list(zip(conversations, results, strict=True))
        json_s = best_of(3, lambda: write_json(root / "records.json", runner, pairs))
        explorer_s = best_of(3, lambda: write_explorer(root / "report", runner, pairs))
        json_mb = (root / "records.json").stat().st_size / 1e6
        explorer_mb = size(root / "report") / 1e6
        index_mb = (root / "report" / "data" / "index.js").stat().st_size / 1e6
        seen = browser(root / "report" / "conversations.html")
        cli_json_s = replay_cli(data, ["--json", str(root / "m.json")])
        cli_report_s = replay_cli(
            data, ["--json", str(root / "m.json"), "--report", str(root / "cli")]
        )
    lines = [
        "## Explorer",
        "",
        f"{n:,} synthetic labelled conversations ({sum(r.user_turns for r in results):,} user "
        f"turns), replayed with `dialogue_only` and signals kept ({replay_s:.1f} s, 2 workers). "
        f"{platform.processor() or platform.machine()}, {datetime.now(UTC):%Y-%m-%d}.",
        "",
        "| measure | time | size |",
        "|---|---:|---:|",
        f'| the same records as one JSON file ("the JSON alone") | {json_s:.2f} s | {json_mb:.1f} MB |',
        f"| the explorer: list, detail and search shards, page | {explorer_s:.2f} s "
        f"({explorer_s / json_s:.2f}×) | {explorer_mb:.1f} MB (list {index_mb:.1f} MB) |",
        f"| `escalate replay --json` end to end | {cli_json_s:.1f} s | |",
        f"| `escalate replay --json --report` end to end (plots, sweep, explorer) | "
        f"{cli_report_s:.1f} s ({cli_report_s / cli_json_s:.2f}×) | |",
        "",
        "Headless Chromium, `conversations.html` opened from disk (best of three loads):",
        "",
        "| step | ms |",
        "|---|---:|",
        f"| navigation to the first page of the list, interactive | {seen['interactive_ms']:.0f} |",
        f"| filter by outcome | {seen['filter_ms']:.0f} |",
        f"| first text search (loads the search shards) | {seen['first_search_ms']:.0f} |",
        f"| open a conversation (loads its shard) | {seen['open_ms']:.0f} |",
        "",
        f"Command: `python benchmarks/explorer.py --conversations {n} --write`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section("## Explorer", text)


if __name__ == "__main__":
    main()
