"""Convert BETOLD (Terragni et al., 2022) phone-bot dialogues to JSON Lines.

Run from the project root::

    python benchmarks/convert_betold.py   # writes benchmarks/out/betold_valid{,_tune,_report}.jsonl

BETOLD keeps intents only: ``nlu`` turns become user turns and ``nlg`` turns bot turns,
each with its intent (and the names of its entities in ``metadata.entities``); there is
no text. Label: ``escalate`` is true for ``LUHF`` dialogues (the caller was forwarded to
a person or hung up late). BETOLD does not say at which turn things went wrong, so
``label.turn`` is left unset: the benchmark is conversation-level only (no timing, no
GT-I/II/III).

The valid split is also cut into two halves with a fixed seed: ``_tune`` is where the
phone-bot policy's thresholds may be chosen, ``_report`` is where figures are reported.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from _data import OUT, data_dir

SEED = 2022


def convert(dialogue: dict[str, Any], index: int) -> dict[str, Any]:
    turns = []
    for utterance in dialogue["utterances_annotations"]:
        role = "user" if utterance["caller_name"] == "nlu" else "bot"
        turn: dict[str, Any] = {"role": role, "intent": utterance["intent"]}
        entities = [e["entity"] for e in utterance.get("entities") or []]
        if entities:
            turn["metadata"] = {"entities": entities}
        turns.append(turn)
    return {
        "id": f"betold-valid-{index:04d}",
        "channel": "voice",
        "turns": turns,
        "label": {"escalate": dialogue["LUHF"] == "luhf"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = json.loads((data_dir() / "betold" / "BETOLD_valid.json").read_text(encoding="utf-8"))
    records = [convert(d, i) for i, d in enumerate(data) if d["utterances_annotations"]]
    order = list(range(len(records)))
    random.Random(SEED).shuffle(order)
    half = set(order[: len(order) // 2])
    files = {
        "betold_valid.jsonl": records,
        "betold_valid_tune.jsonl": [r for i, r in enumerate(records) if i in half],
        "betold_valid_report.jsonl": [r for i, r in enumerate(records) if i not in half],
    }
    for name, rows in files.items():
        target = args.out / name
        with target.open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row) + "\n")
        positives = sum(r["label"]["escalate"] for r in rows)
        print(f"{target}: {len(rows)} dialogues, {positives} LUHF")


if __name__ == "__main__":
    main()
