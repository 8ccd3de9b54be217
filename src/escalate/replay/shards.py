"""Shards: the units a replay is cut into, written to disk when a run must survive a stop.

A replay is cut into **shards** the same way on every backend, so the answer never
depends on where a shard ran:

* without history building, shard *k* is the *k*-th run of ``shard_size`` consecutive
  records of the input (all files read as one stream), itself cut into chunks of
  ``chunk_size`` (one affect batch each);
* with history building (``build_history=True``), shard *k* is **partition** *k*: the
  conversations whose customer hashes to *k* (CRC-32 of the customer id, modulo the
  number of partitions), ordered by start time (the first turn's timestamp; input order
  among equal times, conversations without a timestamp last). One worker replays a whole
  partition with one history store that records each conversation after replaying it,
  so every conversation sees all of its customer's earlier conversations, and none of
  the later ones. Partitions wait on disk (JSON Lines, gzip) between the read and the
  replay, so the input never sits whole in one process.

A :class:`Checkpoint` folder keeps each finished shard's results (JSON Lines, gzip, one
file per shard, written atomically) beside a manifest of the run; a run given the same
folder again loads the shards already there, replays only the rest and merges the two,
with the same results as a run that was never stopped.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from escalate.errors import InputError
from escalate.models import Conversation, Failure, Label
from escalate.replay.readers import Record
from escalate.replay.runner import ConversationResult, TurnOutcome

__all__ = [
    "Checkpoint",
    "Partitioner",
    "default_partitions",
    "read_partition",
    "result_from_dict",
    "result_to_dict",
    "start_time",
]

#: Input bytes per partition when the number of partitions comes from the input's size.
PARTITION_BYTES = 32 * 1024 * 1024
#: Partitions when the input's size is unknown (a stream), and the least in any case.
MIN_PARTITIONS = 16


def default_partitions(total_bytes: int | None) -> int:
    """Partitions for an input of ``total_bytes`` (``None``: unknown): one per 32 MiB,
    at least 16, so a partition (what one worker holds at once) stays small.

    Examples
    --------
    >>> default_partitions(None), default_partitions(10 ** 6), default_partitions(10 ** 10)
    (16, 16, 299)
    """
    if total_bytes is None:
        return MIN_PARTITIONS
    return max(MIN_PARTITIONS, math.ceil(total_bytes / PARTITION_BYTES))


# ---------------------------------------------------------------------------------------
# Results as JSON
# ---------------------------------------------------------------------------------------


def _outcome_to_dict(d: TurnOutcome) -> dict[str, Any]:
    return {
        "turn": d.turn,
        "action": d.action,
        "rule": d.rule,
        "guard": d.guard,
        "score": d.score,
        "signals": d.signals,
        "timestamp": d.timestamp.isoformat() if d.timestamp is not None else None,
        "failures": [f.model_dump(mode="json") for f in d.failures],
        "role": d.role,
        "user_turn": d.user_turn,
    }


def _outcome_from_dict(data: dict[str, Any]) -> TurnOutcome:
    stamp = data["timestamp"]
    return TurnOutcome(
        turn=data["turn"],
        action=data["action"],
        rule=data["rule"],
        guard=data["guard"],
        score=data["score"],
        signals=data["signals"],
        timestamp=datetime.fromisoformat(stamp) if stamp is not None else None,
        failures=tuple(Failure.model_validate(f) for f in data["failures"]),
        role=data["role"],
        user_turn=data["user_turn"],
    )


def result_to_dict(result: ConversationResult) -> dict[str, Any]:
    """A JSON-ready mapping that :func:`result_from_dict` turns back into ``result``.

    Examples
    --------
    >>> r = ConversationResult("c1", 3, 2, (TurnOutcome(0, "handoff", rule="r", score=1.5),))
    >>> result_from_dict(json.loads(json.dumps(result_to_dict(r)))) == r
    True
    """
    return {
        "id": result.id,
        "line": result.line,
        "turns": result.turns,
        "decisions": [_outcome_to_dict(d) for d in result.decisions],
        "label": result.label.model_dump(mode="json") if result.label is not None else None,
        "label_user_turn": result.label_user_turn,
        "all_rules": list(result.all_rules),
        "domain": result.domain,
    }


def result_from_dict(data: dict[str, Any]) -> ConversationResult:
    """The :class:`ConversationResult` of a mapping written by :func:`result_to_dict`."""
    label = data["label"]
    return ConversationResult(
        id=data["id"],
        line=data["line"],
        turns=data["turns"],
        decisions=tuple(_outcome_from_dict(d) for d in data["decisions"]),
        label=Label.model_validate(label) if label is not None else None,
        label_user_turn=data["label_user_turn"],
        all_rules=tuple(data["all_rules"]),
        domain=data.get("domain"),
    )


# ---------------------------------------------------------------------------------------
# Partitions by customer, ordered by time
# ---------------------------------------------------------------------------------------


def start_time(conversation: Conversation) -> datetime | None:
    """When a conversation started: its first turn with a timestamp (naive taken as UTC)."""
    for turn in conversation.turns:
        if turn.timestamp is not None:
            stamp = turn.timestamp
            return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
    return None


def partition_of(conversation: Conversation, position: int, partitions: int) -> int:
    """The partition of a conversation: by customer (CRC-32 of the id), else by position.

    Examples
    --------
    >>> from escalate.models import Turn
    >>> a = Conversation(id="a", customer_id="u1", turns=[Turn(role="user", text="hi")])
    >>> b = Conversation(id="b", customer_id="u1", turns=[Turn(role="user", text="hi")])
    >>> partition_of(a, 0, 16) == partition_of(b, 9, 16)
    True
    """
    if conversation.customer_id is not None:
        return zlib.crc32(conversation.customer_id.encode("utf-8")) % partitions
    return position % partitions


class Partitioner:
    """Writes conversations into ``partitions`` gzip JSON Lines files under ``folder``.

    Each line holds the conversation, its position in the input, its line and source,
    so a partition read back is ordered without the input.
    """

    def __init__(self, folder: Path, partitions: int) -> None:
        self.folder = folder
        self.partitions = partitions
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = [folder / f"partition-{k:05d}.jsonl.gz" for k in range(partitions)]
        self.counts = [0] * partitions
        self._files = [
            gzip.open(p, "wt", encoding="utf-8", compresslevel=1)  # noqa: SIM115
            for p in self.paths
        ]

    def add(self, record: Record, position: int) -> None:
        """Spill one good record."""
        conversation = record.conversation
        assert conversation is not None
        k = partition_of(conversation, position, self.partitions)
        head = json.dumps({"i": position, "l": record.line, "s": record.source})
        self._files[k].write(f'{head[:-1]}, "c": {conversation.model_dump_json()}}}\n')
        self.counts[k] += 1

    def close(self) -> None:
        """Close every file."""
        for f in self._files:
            f.close()

    def __enter__(self) -> Partitioner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_partition(data: bytes) -> list[Record]:
    """The records of a partition file's bytes, ordered by start time, then input order."""
    rows: list[tuple[tuple[int, datetime, int], Record]] = []
    floor = datetime.min.replace(tzinfo=UTC)
    for line in gzip.decompress(data).splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        conversation = Conversation.model_validate(item["c"])
        when = start_time(conversation)
        key = (0, when, item["i"]) if when is not None else (1, floor, item["i"])
        rows.append((key, Record(item["l"], conversation, None, item["s"])))
    rows.sort(key=lambda row: row[0])
    return [record for _, record in rows]


# ---------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------


def records_digest(records: Sequence[Record] | Iterable[Record]) -> str:
    """A digest of the records of a shard (source, line, id), to tell shards apart."""
    h = hashlib.blake2b(digest_size=12)
    for r in records:
        cid = r.conversation.id if r.conversation is not None else ""
        h.update(f"{r.source}\x00{r.line}\x00{cid}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


@dataclass
class Checkpoint:
    """A folder with the finished shards of one run (see the module notes).

    Parameters
    ----------
    folder:
        Created if missing.
    manifest:
        What identifies the run (policy, options, input files); a folder written by a
        run with another manifest is refused, never mixed in.
    """

    folder: Path
    manifest: dict[str, Any]

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "manifest.json"
        text = json.dumps(self.manifest, sort_keys=True, indent=1, default=str)
        if path.exists():
            if json.loads(path.read_text(encoding="utf-8")) != json.loads(text):
                raise InputError(
                    f"{self.folder} holds the shards of another run (another policy, input "
                    "or options); give an empty folder or the same run's"
                )
        else:
            _atomic_write(path, text.encode("utf-8"))

    def _path(self, index: int) -> Path:
        return self.folder / f"shard-{index:06d}.jsonl.gz"

    def finished(self) -> list[int]:
        """Indices of the shards written so far."""
        return sorted(int(p.name[6:12]) for p in self.folder.glob("shard-*.jsonl.gz"))

    def load(self, index: int, digest: str) -> list[ConversationResult] | None:
        """The results of shard ``index``, or ``None`` when it has not finished.

        Raises
        ------
        InputError
            The shard on disk holds other records than the input's shard ``index``.
        """
        path = self._path(index)
        if not path.exists():
            return None
        lines = gzip.decompress(path.read_bytes()).splitlines()
        head = json.loads(lines[0])
        if head.get("digest") != digest:
            raise InputError(
                f"{path} was written for other records than shard {index} of this input; "
                "the input changed since the run was stopped"
            )
        return [result_from_dict(json.loads(line)) for line in lines[1:]]

    def save(self, index: int, digest: str, results: Iterable[ConversationResult]) -> None:
        """Write shard ``index`` (atomically: a stopped write leaves no shard)."""
        body = [json.dumps({"shard": index, "digest": digest})]
        body.extend(json.dumps(result_to_dict(r)) for r in results)
        data = gzip.compress(("\n".join(body) + "\n").encode("utf-8"), compresslevel=1)
        _atomic_write(self._path(index), data)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def fingerprint(value: Any) -> str:
    """A short digest of a JSON-ready value."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


def iter_batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
