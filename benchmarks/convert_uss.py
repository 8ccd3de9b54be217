"""Convert User Satisfaction Simulation dialogues (Sun et al., SIGIR 2021) to JSON Lines.

Run from the project root::

    python benchmarks/convert_uss.py
    # writes benchmarks/out/uss_{mwoz,sgd}.jsonl and uss_{mwoz,sgd}_{train,dev,test}.jsonl

``USER`` turns become user turns and ``SYSTEM`` turns bot turns; the action becomes the
turn's intent; each conversation carries its ``domain`` (``mwoz`` or ``sgd``). Label: the
dialogue needed a person when any user turn has a mean satisfaction of at most 2, and
``label.turn`` is the first such user turn. The split files follow the affect model's own
split (:func:`escalate.affect.data.uss_split`, seed 13): 70 / 15 / 15 % of the dialogues,
stratified by label, so that the dev and test dialogues are ones the shipped model never
trained on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _data import OUT, data_dir

from escalate.affect.data import USS_DOMAINS, UssDialogue, read_uss, uss_split

SEED = 13


def convert(dialogue: UssDialogue) -> dict[str, Any]:
    turns: list[dict[str, Any]] = []
    label_turn: int | None = None
    for turn in dialogue.turns:
        record: dict[str, Any] = {"role": turn.role}
        if turn.text:
            record["text"] = turn.text
        if turn.intent:
            record["intent"] = turn.intent[:200]
        if "text" not in record and "intent" not in record:
            record["event"] = "empty"
        mean = turn.mean_rating
        if label_turn is None and mean is not None and mean <= 2:
            label_turn = len(turns)
        turns.append(record)
    return {
        "id": dialogue.id,
        "domain": dialogue.domain,
        "turns": turns,
        "label": {"escalate": label_turn is not None, "turn": label_turn},
    }


def write(path: Path, dialogues: list[UssDialogue]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for dialogue in dialogues:
            out.write(json.dumps(convert(dialogue), ensure_ascii=False) + "\n")
    positives = sum(d.needs_human for d in dialogues)
    print(f"{path}: {len(dialogues)} dialogues, {positives} needed a person")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for domain in USS_DOMAINS:
        dialogues = read_uss(data_dir(), domain)
        write(args.out / f"uss_{domain}.jsonl", dialogues)
        for part, subset in uss_split(dialogues, seed=SEED).items():
            write(args.out / f"uss_{domain}_{part}.jsonl", subset)


if __name__ == "__main__":
    main()
