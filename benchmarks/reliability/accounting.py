"""Nothing lost: a replay over a file with bad records accounts for every record.

:func:`write_file` writes JSON Lines (optionally gzip-compressed) whose lines are valid
conversations, bad records of several kinds, and blank lines, and returns what each
non-blank line must become. :func:`replay_accounting` replays the file with a number of
workers and compares: every record read comes out exactly once, in input order, as a
decided conversation (the right id, the right number of user-turn decisions) or as a
rejected record at its line; decided plus rejected equals the records read.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from escalate.replay.readers import Record, open_conversations
from escalate.replay.runner import ConversationResult, Runner

__all__ = ["KINDS", "AccountingRun", "Expected", "replay_accounting", "write_file"]

#: What a line of the file may be.
KINDS = (
    "good",
    "bad-json",
    "bad-role",
    "no-content",
    "bad-utf8",
    "too-long",
    "wrong-shape",
    "blank",
)

Expected = tuple[int, str | None, int]  # (line, conversation id or None if rejected, user turns)


def _line(kind: str, index: int) -> bytes:
    cid = f"c{index}"
    if kind == "good":
        turns = [
            {"role": "user", "text": f"Where is my order {index}?"},
            {"role": "bot", "event": "fallback"},
            {"role": "user", "text": "I said where is my order, get me a person"},
        ][: 1 + index % 3]
        return json.dumps({"id": cid, "customer_id": f"u{index % 7}", "turns": turns}).encode()
    if kind == "bad-json":
        return b'{"id": "' + cid.encode() + b'", "turns": [}'
    if kind == "bad-role":
        return json.dumps({"id": cid, "turns": [{"role": "robot", "text": "x"}]}).encode()
    if kind == "no-content":
        return json.dumps({"id": cid, "turns": [{"role": "user"}]}).encode()
    if kind == "bad-utf8":
        return b'{"id": "' + cid.encode() + b'", "turns": [{"role": "user", "text": "caf\xe9"}]}'
    if kind == "too-long":
        return json.dumps({"id": cid, "turns": [{"role": "user", "text": "x" * 20_001}]}).encode()
    if kind == "wrong-shape":
        return b"[1, 2, 3]"
    return b"   "


def write_file(path: Path, kinds: Sequence[str], *, compress: bool = False) -> list[Expected]:
    """Write one line per kind; returns, per non-blank line, what it must become."""
    expected: list[Expected] = []
    lines = []
    for index, kind in enumerate(kinds):
        lines.append(_line(kind, index))
        if kind == "good":
            expected.append((index + 1, f"c{index}", (1 + index % 3 + 1) // 2))
        elif kind != "blank":
            expected.append((index + 1, None, 0))
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return expected


@dataclass
class AccountingRun:
    workers: int
    records: int = 0
    decided: int = 0
    rejected: int = 0
    seconds: float = 0.0
    mismatches: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.mismatches and self.decided + self.rejected == self.records

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "balanced": self.balanced}


def replay_accounting(
    path: Path,
    expected: Sequence[Expected],
    *,
    workers: int,
    chunk_size: int = 64,
    policy: str = "dialogue_only",
) -> AccountingRun:
    """Replay ``path`` with ``workers`` processes and account for every record."""
    run = AccountingRun(workers=workers)
    run.records = sum(1 for _ in open_conversations(path))
    runner = Runner(policy, affect=None, workers=workers, chunk_size=chunk_size, progress=False)
    started = time.perf_counter()
    out: list[Expected] = []
    for item in runner.run(open_conversations(path)):
        if isinstance(item, ConversationResult):
            run.decided += 1
            out.append((item.line, item.id, item.user_turns))
        else:
            assert isinstance(item, Record) and item.error is not None
            run.rejected += 1
            out.append((item.line, None, 0))
    run.seconds = time.perf_counter() - started
    if len(out) != len(expected):
        run.mismatches.append(f"{len(out)} records came out, {len(expected)} expected")
    for got, want in zip(out, expected, strict=False):
        if got != want:
            run.mismatches.append(f"line {want[0]}: got {got}, expected {want}")
            if len(run.mismatches) > 5:
                break
    return run
