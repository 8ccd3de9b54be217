"""Convert User Satisfaction Simulation dialogues (Sun et al., SIGIR 2021) to JSON Lines.

Run from the project root::

    python benchmarks/convert_uss.py            # writes benchmarks/out/uss_mwoz.jsonl, uss_sgd.jsonl

Input lines are ``ROLE<TAB>text<TAB>action<TAB>sat1,sat2,...`` with dialogues separated
by blank lines and a final ``USER<TAB>OVERALL`` line that rates the whole dialogue (it
is not a turn). ``USER`` becomes a user turn and ``SYSTEM`` a bot turn; the action
becomes the turn's intent. Label: the dialogue needed a person when any user turn has a
mean satisfaction of at most 2, and ``label.turn`` is the first such user turn.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _data import OUT, data_dir

FILES = {"mwoz": "MWOZ.txt", "sgd": "SGD.txt"}


def dialogues(path: Path) -> Iterator[list[list[str]]]:
    block: list[list[str]] = []
    with path.open(encoding="utf-8") as stream:
        for raw in stream:
            line = raw.rstrip("\n")
            if not line.strip():
                if block:
                    yield block
                block = []
                continue
            block.append(line.split("\t"))
    if block:
        yield block


def convert(name: str, block: list[list[str]], index: int) -> dict[str, Any]:
    turns: list[dict[str, Any]] = []
    label_turn: int | None = None
    for fields in block:
        fields = fields + [""] * (4 - len(fields))
        role, text, action, sats = fields[:4]
        if role == "USER" and text == "OVERALL":
            continue
        turn: dict[str, Any] = {"role": "user" if role == "USER" else "bot"}
        if text.strip():
            turn["text"] = text
        if action.strip():
            turn["intent"] = action.strip()[:200]
        if "text" not in turn and "intent" not in turn:
            turn["event"] = "empty"
        if role == "USER" and sats.strip():
            scores = [float(s) for s in sats.split(",") if s.strip()]
            if label_turn is None and scores and sum(scores) / len(scores) <= 2:
                label_turn = len(turns)
        turns.append(turn)
    return {
        "id": f"uss-{name}-{index:04d}",
        "turns": turns,
        "label": {"escalate": label_turn is not None, "turn": label_turn},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, file in FILES.items():
        target = args.out / f"uss_{name}.jsonl"
        count = positives = 0
        with target.open("w", encoding="utf-8") as out:
            for i, block in enumerate(dialogues(data_dir() / "uss" / file)):
                record = convert(name, block, i)
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
                positives += record["label"]["escalate"]
        print(f"{target}: {count} dialogues, {positives} needed a person")


if __name__ == "__main__":
    main()
