"""Handoff packet benchmark: precision and recall of the fact extractor per entity type.

Data: the Bitext customer-support utterances (``bitext/customer_support_6k.csv``), whose
``start_offset``/``end_offset`` are 0-based, end-exclusive character offsets into
``instruction`` (``instruction[start:end]`` is the annotated text; ``entity_value`` is a
normalised form: leading zeros dropped from order numbers, account types capitalised).
Each utterance carries at most one annotated entity.

Split discipline: the distinct utterances are shuffled with a fixed seed and cut in two
halves; patterns were tuned on ``dev`` only, and the figures reported are on ``test``.

Matching: a predicted fact matches the annotation when its type maps to the annotated
type and its span equals the annotated span once a leading ``#``, currency symbols and
currency words are trimmed from both (so ``$160`` matches an annotated ``160``).
Precision is given twice: over every utterance, where an unannotated but real entity
(an amount in a ``track_refund`` utterance, say) counts against us, and over the
utterances of the intents that carry annotations of that type.

Usage::

    python benchmarks/packet_entities.py                 # report on test, write RESULTS.md
    python benchmarks/packet_entities.py --split dev --errors 20   # tune on dev
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

from _results import replace_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from escalate.packet.facts import FactExtractor

HEADING = "## Handoff packet: entity extraction"
SEED = 20260504
#: Bitext entity type -> the extractor's fact type.
TYPES: dict[str, str] = {
    "order_id": "order_id",
    "invoice_id": "invoice_id",
    "refund_amount": "amount",
    "person_name": "person_name",
    "delivery_city": "city",
    "delivery_country": "country",
    "account_type": "account_type",
}
_TRIM_LEFT = re.compile(r"^(?:#|US\$|C\$|A\$|[$€£¥₹]|\s)+")
_TRIM_RIGHT = re.compile(r"(?i)(?:\s*(?:dollars?|bucks|euros?|pounds?|quid|usd|eur|gbp|[$€£]))+$")


def _core(text: str, start: int, end: int) -> tuple[int, int]:
    span = text[start:end]
    left = _TRIM_LEFT.match(span)
    if left:
        start += left.end()
        span = span[left.end() :]
    right = _TRIM_RIGHT.search(span)
    if right and right.start() > 0:
        end = start + right.start()
    return start, end


def _data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("ESCALATE_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def load(data: Path, split: str) -> list[tuple[str, str, str | None, tuple[int, int] | None]]:
    """(text, intent, gold type, gold span) per distinct utterance of one half."""
    by_text: dict[str, tuple[str, str | None, tuple[int, int] | None]] = {}
    with (data / "bitext" / "customer_support_6k.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = row["instruction"]
            kind = row["entity_type"] or None
            span = (int(row["start_offset"]), int(row["end_offset"])) if kind else None
            by_text.setdefault(text, (row["intent"], kind, span))
    texts = sorted(by_text)
    random.Random(SEED).shuffle(texts)
    half = len(texts) // 2
    chosen = texts[:half] if split == "dev" else texts[half:]
    return [(t, *by_text[t]) for t in chosen]


def evaluate(
    rows: list[tuple[str, str, str | None, tuple[int, int] | None]], errors: int = 0
) -> tuple[list[list[str]], float]:
    extractor = FactExtractor()
    annotated_intents: dict[str, set[str]] = defaultdict(set)
    for _, intent, kind, _ in rows:
        if kind:
            annotated_intents[kind].add(intent)
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fp_in: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    shown: dict[str, int] = defaultdict(int)
    started = time.perf_counter()
    for text, intent, kind, span in rows:
        facts = extractor.extract(text)
        gold = _core(text, *span) if kind and span else None
        hit = False
        for bitext_type, fact_type in TYPES.items():
            for fact in facts:
                if fact.type != fact_type:
                    continue
                if bitext_type == kind and gold == _core(text, fact.start, fact.end) and not hit:
                    hit = True
                    tp[bitext_type] += 1
                    continue
                fp[bitext_type] += 1
                if intent in annotated_intents[bitext_type]:
                    fp_in[bitext_type] += 1
                if errors and shown[bitext_type + "fp"] < errors:
                    shown[bitext_type + "fp"] += 1
                    print(f"FP {bitext_type}: {fact.text!r} in {text!r}")
        if kind and not hit:
            fn[kind] += 1
            if errors and shown[kind + "fn"] < errors and span:
                shown[kind + "fn"] += 1
                got = [(f.type, f.text) for f in facts]
                print(f"FN {kind}: {text[span[0] : span[1]]!r} in {text!r}; got {got}")
    elapsed = time.perf_counter() - started
    table: list[list[str]] = []
    for kind in TYPES:
        n = tp[kind] + fn[kind]
        p = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else float("nan")
        p_in = tp[kind] / (tp[kind] + fp_in[kind]) if tp[kind] + fp_in[kind] else float("nan")
        r = tp[kind] / n if n else float("nan")
        table.append([kind, TYPES[kind], str(n), f"{p:.3f}", f"{p_in:.3f}", f"{r:.3f}"])
    return table, elapsed / max(len(rows), 1) * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="dataset folder (default: $ESCALATE_DATA or ../shared/data)")
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--errors", type=int, default=0, help="print this many errors per type")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    rows = load(_data_dir(args.data), args.split)
    table, micros = evaluate(rows, args.errors)
    header = ["Bitext type", "fact type", "annotated", "precision (all)",
              "precision (annotated intents)", "recall"]  # fmt: skip
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in table),
    ]
    print("\n".join(lines))
    print(f"{len(rows)} utterances ({args.split}), {micros:.0f} µs per utterance")
    if args.no_write or args.split != "test":
        return
    body = "\n".join(
        [
            HEADING,
            "",
            "`python benchmarks/packet_entities.py` — the regex and gazetteer fact extractor",
            "(`escalate.packet.facts`) on the Bitext customer-support utterances. The distinct",
            f"utterances are shuffled (seed {SEED}) and halved; patterns were tuned on the dev",
            f"half, and these figures are on the test half ({len(rows)} utterances), measured once.",
            "A match needs the same type and the same span (a leading `#` and currency symbols",
            "or words trimmed). *Precision (all)* counts every extra fact as wrong, including",
            "real but unannotated ones (amounts in `track_refund` utterances are not annotated);",
            "*precision (annotated intents)* counts only utterances of the intents that carry",
            "annotations of that type. Bitext uses few distinct values (5 names, 8 cities,",
            "6 countries), all well-known, so the gazetteer rows overstate recall on real",
            "traffic; the identifier and amount rows rest on patterns, not on lists.",
            "",
            *lines,
            "",
            f"Speed: {micros:.0f} µs per utterance on one CPU core (all entity types).",
        ]
    )
    replace_section(HEADING, body)


if __name__ == "__main__":
    main()
