"""Build a synthetic archive of support conversations for the replay-at-scale benchmark.

Run from the project root::

    python benchmarks/synthetic_archive.py --conversations 1000000 --files 20

Writes ``benchmarks/out/synthetic/part-NNNNN.jsonl.gz`` (git-ignored): JSON Lines, gzip,
``--files`` shards of equal size. Every conversation is written here from templates (no
data set rows): a customer (``--customers`` of them, so that many come back), timestamps
spread over a year in time order per file, 2 to 8 user turns with bot replies, some of
them fallbacks, re-prompts, repeats and requests for a person, and a label (needed a
person or not, with the turn). Seeded, so the same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "synthetic"

ASKS = [
    "where is my parcel",
    "I need to change my delivery address",
    "how do I reset my password",
    "my card was charged twice",
    "can I return these shoes",
    "what are your opening hours",
    "the app keeps crashing when I pay",
    "I want to cancel my subscription",
    "my order arrived damaged",
    "do you ship to Norway",
]
FOLLOW = [
    "ok thanks",
    "that did not help",
    "I already tried that",
    "no, that's wrong",
    "still not working",
    "what do you mean?",
    "fine",
    "this is useless",
    "can you check again",
    "great, thank you",
]
HUMAN = ["let me talk to a person", "get me a human agent please", "I want a real person"]
REPLIES = [
    "Here is what I found about your order.",
    "You can change that in your account settings.",
    "I have sent you a link to reset it.",
    "Let me look into that for you.",
    "Our opening hours are 8 to 8, Monday to Friday.",
]


def conversation(rng: random.Random, index: int, customers: int, when: datetime) -> str:
    """One conversation as a JSON line."""
    customer = f"cust-{rng.randrange(customers):07d}"
    users = rng.randint(2, 8)
    stuck = rng.random() < 0.25
    wants_human = rng.random() < 0.12
    turns: list[dict[str, object]] = []
    label_turn: int | None = None
    at = when
    for u in range(users):
        if u == 0:
            text = rng.choice(ASKS)
        elif wants_human and u == users - 1:
            text = rng.choice(HUMAN)
            label_turn = len(turns)
        else:
            text = rng.choice(FOLLOW)
        turns.append({"role": "user", "text": text, "timestamp": at.isoformat()})
        at += timedelta(seconds=rng.randint(5, 90))
        if stuck and u >= 1:
            turns.append({"role": "bot", "event": "fallback", "timestamp": at.isoformat()})
            if label_turn is None and u >= 2:
                label_turn = len(turns) - 1
        else:
            turns.append({"role": "bot", "text": rng.choice(REPLIES), "timestamp": at.isoformat()})
        at += timedelta(seconds=rng.randint(5, 60))
    escalate = label_turn is not None
    data = {
        "id": f"syn-{index:09d}",
        "customer_id": customer,
        "turns": turns,
        "label": {"escalate": escalate, "turn": label_turn} if escalate else {"escalate": False},
    }
    return json.dumps(data, separators=(",", ":"))


def build(conversations: int, files: int, customers: int, seed: int, out: Path) -> list[Path]:
    """Write the archive; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*.jsonl.gz"):
        old.unlink()
    per_file = -(-conversations // files)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    step = timedelta(days=365) / max(per_file, 1)
    paths: list[Path] = []
    index = 0
    for f in range(files):
        rng = random.Random(seed * 1_000_003 + f)
        path = out / f"part-{f:05d}.jsonl.gz"
        count = min(per_file, conversations - index)
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as stream:
            for k in range(count):
                stream.write(conversation(rng, index, customers, start + step * k) + "\n")
                index += 1
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    began = time.perf_counter()
    paths = build(args.conversations, args.files, args.customers, args.seed, args.out)
    size = sum(p.stat().st_size for p in paths)
    print(
        f"{args.conversations:,} conversations in {len(paths)} files under {args.out} "
        f"({size / 2**20:,.0f} MiB gzip) in {time.perf_counter() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
