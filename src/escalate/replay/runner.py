"""Replay stored conversations through the engine, turn by turn, on every core or a cluster.

The runner drives only the public engine API: :meth:`Engine.decide_many` replays each
conversation through the same step as :meth:`Session.observe`, so a decision at turn
*t* sees only turns up to *t*, and the affect model receives the user messages of a
whole chunk of conversations in one call.

Parallelism
-----------
With ``workers > 1`` chunks of ``chunk_size`` conversations go to a process pool. Each
worker builds its own :class:`~escalate.engine.Engine` from the runner's
:class:`~escalate.policy.Policy`, which travels to it as itself (a variant built in
memory included; no worker reads the policy file again), and from the affect-model
factory (engines hold ONNX sessions, which are never pickled). Chunks are cut in the parent, always the
same way, and results come back in input order, so the output is identical whatever the
number of workers. When the runner loads the shipped affect model itself it gives ONNX
Runtime one thread per process: batches are then scored the same way in one process or
in many, and ``workers`` processes use ``workers`` cores.

Input is consumed lazily with a bounded number of chunks in flight, so an archive of any
size streams through.
"""

from __future__ import annotations

import inspect
import math
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from escalate.affect.base import AffectModel
from escalate.engine import Engine
from escalate.errors import InputError
from escalate.models import Action, Conversation, Decision, Failure, Label
from escalate.policy import Policy, load_policy
from escalate.replay.readers import Record

__all__ = [
    "AffectSpec",
    "ConversationResult",
    "Runner",
    "TurnOutcome",
    "collect",
    "escalation_score",
    "label_user_turn",
]

#: How the runner gets an affect model: the shipped one, none, or a picklable factory.
AffectSpec = Literal["default"] | None | Callable[[], AffectModel]

Values = dict[str, float | None]


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    """The decision at one decided turn, reduced to what replay measures.

    Attributes
    ----------
    turn:
        Index of the turn in the conversation's ``turns``.
    action, rule, guard:
        As in :class:`~escalate.models.Decision`.
    score:
        :func:`escalation_score` of the signals at this turn (``None`` when unknown).
    signals:
        The values of the signals the policy reads, when the runner keeps them.
    timestamp:
        When the turn was decided: its timestamp, else the engine's clock at the time
        (business hours re-evaluate with it).
    failures:
        The components that failed at this turn (the affect model, the history store).
    role:
        ``user``, or ``bot`` for a bot turn decided by a policy that decides on them.
    user_turn:
        0-based index among the conversation's user turns of this turn, or for a bot
        turn of the last user turn before it (0 when none): the moment a person could
        have taken over, in the units of the timing metrics. ``None``: the turn's own
        index among decisions (results built by hand).

    Examples
    --------
    >>> TurnOutcome(turn=0, action="continue").escalates
    False
    """

    turn: int
    action: Action
    rule: str | None = None
    guard: str | None = None
    score: float | None = None
    signals: Values | None = None
    timestamp: datetime | None = None
    failures: tuple[Failure, ...] = ()
    role: Literal["user", "bot"] = "user"
    user_turn: int | None = None

    @property
    def escalates(self) -> bool:
        """True when the action involves a person."""
        return self.action != "continue"


@dataclass(frozen=True, slots=True)
class ConversationResult:
    """One conversation replayed: its size, label and one outcome per decided turn (each
    user turn, and each bot turn under a policy that decides on bot turns).

    Examples
    --------
    >>> r = ConversationResult(id="c1", line=1, turns=3, decisions=(
    ...     TurnOutcome(0, "continue"), TurnOutcome(2, "handoff", rule="asked")))
    >>> r.escalated, r.first_escalation.turn, r.first_escalation_user_turn
    (True, 2, 1)
    """

    id: str
    line: int
    turns: int
    decisions: tuple[TurnOutcome, ...]
    label: Label | None = None
    label_user_turn: int | None = None
    all_rules: tuple[str, ...] = field(default=())
    domain: str | None = None

    @property
    def user_turns(self) -> int:
        """Number of user turns (one decision each)."""
        return sum(1 for d in self.decisions if d.role == "user")

    @property
    def escalated(self) -> bool:
        """True when any decision involves a person."""
        return any(d.escalates for d in self.decisions)

    @property
    def first_escalation_user_turn(self) -> int | None:
        """0-based user-turn index of the first escalating decision (for a bot turn, the
        user turn before it), or ``None``."""
        for i, d in enumerate(self.decisions):
            if d.escalates:
                return d.user_turn if d.user_turn is not None else i
        return None

    @property
    def first_escalation(self) -> TurnOutcome | None:
        """The first escalating decision, or ``None``."""
        return next((d for d in self.decisions if d.escalates), None)

    @property
    def score(self) -> float:
        """The conversation's escalation score: the highest turn score (``-inf`` if none)."""
        known = [d.score for d in self.decisions if d.score is not None]
        return max(known) if known else -math.inf


def escalation_score(
    policy: Policy, values: Mapping[str, float | None], role: Literal["user", "bot"] = "user"
) -> float | None:
    """How strongly the policy wants a person at one turn.

    The highest :meth:`~escalate.policy.expressions.Expression.margin` over the rules
    whose action involves a person and the explicit-request guard (on a bot turn: the
    rules for bot turns); positive (or zero, on the boundary) when one of them holds. A margin whose sign contradicts its condition is
    left out: a bare name used as a condition scores its value, so a flag at 0 would
    score 0 while not holding and tie every conversation above all negative margins.
    ``None`` when no margin is known (every such condition reads an unknown value),
    ``-inf`` when the policy has no escalating rule.

    Examples
    --------
    >>> from escalate.policy import load_policy
    >>> p = load_policy("dialogue_only", affect=False)
    >>> escalation_score(p, {"dialogue.consecutive_fallbacks": 3, "dialogue.human_requests": 0,
    ...     "dialogue.user_repeats": 0, "dialogue.bot_repeats": 0, "dialogue.user_negations": 0,
    ...     "dialogue.failures": 3, "dialogue.user_turns": 2, "dialogue.asked_for_human": 0})
    0.5
    """
    best: float | None = None
    rules = [r for r in policy.rules if r.action != "continue" and r.applies_to(role)]
    if policy.explicit_request is not None and role == "user":
        rules.append(policy.explicit_request)
    if not rules:
        return -math.inf
    for rule in rules:
        m = rule.expression.margin(values)
        if m is None:
            continue
        holds = rule.expression.evaluate(values)
        if (m >= 0) != holds and not (holds and m == 0):
            continue  # a margin that contradicts the condition (a bare name at 0) says nothing
        if best is None or m > best:
            best = m
    return best


def label_user_turn(conversation: Conversation) -> int | None:
    """The labelled turn as a user-turn index: the last user turn at or before it.

    ``None`` without a positive label with a turn; ``0`` when no user turn precedes it.

    Examples
    --------
    >>> from escalate.models import Turn
    >>> c = Conversation(id="c", turns=[Turn(role="user", text="a"), Turn(role="bot", text="b"),
    ...     Turn(role="user", text="c")], label={"escalate": True, "turn": 2})
    >>> label_user_turn(c)
    1
    """
    label = conversation.label
    if label is None or not label.escalate or label.turn is None:
        return None
    users = sum(1 for t in conversation.turns[: label.turn + 1] if t.role == "user")
    return max(users - 1, 0)


def _result(
    policy: Policy,
    conversation: Conversation,
    decisions: list[Decision],
    line: int,
    keep_signals: bool | Literal["all"],
) -> ConversationResult:
    names = sorted(policy.signal_names)
    keep_all = keep_signals == "all"
    outcomes: list[TurnOutcome] = []
    fired: list[str] = []
    users_before = [0]
    for turn in conversation.turns:
        users_before.append(users_before[-1] + (turn.role == "user"))
    for decision in decisions:
        values = decision.signals.as_mapping() if decision.signals is not None else {}
        if keep_all:
            kept: Values | None = dict(values)
        else:
            kept = {n: values.get(n) for n in names} if keep_signals else None
        role: Literal["user", "bot"] = "bot" if decision.role == "bot" else "user"
        outcomes.append(
            TurnOutcome(
                turn=decision.turn,
                action=decision.action,
                rule=decision.rule,
                guard=decision.guard,
                score=escalation_score(policy, values, role),
                signals=kept,
                timestamp=decision.decided_at,
                failures=decision.failures,
                role=role,
                user_turn=max(users_before[decision.turn + 1] - 1, 0),
            )
        )
        if decision.escalates and decision.rule is not None:
            fired.append(decision.rule)
    return ConversationResult(
        id=conversation.id,
        line=line,
        turns=len(conversation.turns),
        decisions=tuple(outcomes),
        label=conversation.label,
        label_user_turn=label_user_turn(conversation),
        all_rules=tuple(fired),
        domain=conversation.domain,
    )


# ---------------------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Spec:
    policy: Policy
    affect: AffectSpec
    history: Any
    keep_signals: bool | Literal["all"]
    affect_batch: int = 1
    chunk_size: int = 64


@dataclass(frozen=True, slots=True)
class _Work:
    """One shard: its records (``records``) or a partition file's bytes (``partition``)."""

    index: int
    records: list[Record] | None = None
    partition: bytes | None = None
    digest: str = ""
    mark: int = 0  # progress (bytes read, or conversations) once this shard is done


_WORKER: tuple[Engine, _Spec] | None = None


def _build_engine(spec: _Spec) -> Engine:
    model: AffectModel | None
    if spec.affect is None:
        model = None
    elif spec.affect == "default":
        from escalate.affect import OnnxAffectModel

        # One ONNX thread per process: batches score alike with any number of workers.
        model = OnnxAffectModel.default(threads=1, batch_size=spec.affect_batch)
    else:
        model = spec.affect()
    kwargs: dict[str, Any] = {"affect": model}
    accepts = inspect.signature(Engine.from_policy).parameters
    if spec.history is not None:
        if "history" not in accepts:
            raise TypeError("this version of Engine.from_policy does not accept history=")
        kwargs["history"] = spec.history
    elif "history" in accepts:
        # No earlier contacts: an empty store in memory, never the default history file.
        kwargs["history"] = "memory://"
    return Engine.from_policy(spec.policy, **kwargs)


def _init_worker(spec: _Spec) -> None:
    global _WORKER
    _WORKER = (_build_engine(spec), spec)


def _run_work_in_worker(work: _Work) -> list[ConversationResult | Record]:
    assert _WORKER is not None, "worker not initialised"
    engine, spec = _WORKER
    return _run_work(engine, spec, work)


def _run_work(engine: Engine, spec: _Spec, work: _Work) -> list[ConversationResult | Record]:
    """Replay one shard: its chunks in order (a partition with its own growing history)."""
    out: list[ConversationResult | Record] = []
    if work.partition is None:
        assert work.records is not None
        for start in range(0, len(work.records), spec.chunk_size):
            chunk = work.records[start : start + spec.chunk_size]
            out.extend(_run_chunk(engine, chunk, spec.keep_signals))
        return out
    from escalate.replay.shards import read_partition
    from escalate.stores.history import MemoryHistoryStore

    records = read_partition(work.partition)
    base = getattr(engine, "history", None)
    store = _GrowingHistory(base, MemoryHistoryStore())
    for start in range(0, len(records), spec.chunk_size):
        chunk = records[start : start + spec.chunk_size]
        out.extend(_run_chunk(engine, chunk, spec.keep_signals, store))
    return out


class _GrowingHistory:
    """A history store that reads ``base`` (never writing it) plus the contacts recorded
    in ``grown`` during this replay."""

    def __init__(self, base: Any, grown: Any) -> None:
        self.base = base
        self.grown = grown

    def record(self, contact: Any) -> None:
        self.grown.record(contact)

    def record_many(self, contacts: Iterable[Any]) -> int:
        return int(self.grown.record_many(contacts))

    def recent(
        self, customer_id: str, *, since: datetime, until: datetime, limit: int = 500
    ) -> Any:
        mine = self.grown.recent(customer_id, since=since, until=until, limit=limit)
        if self.base is None:
            return mine
        seen = {c.conversation_id for c in mine}
        earlier = [
            c
            for c in self.base.recent(customer_id, since=since, until=until, limit=limit)
            if c.conversation_id not in seen
        ]
        both = sorted([*mine, *earlier], key=lambda c: c.started_at, reverse=True)
        return both[:limit]

    def last_contact_at(self, customer_id: str, *, before: datetime) -> datetime | None:
        found = [self.grown.last_contact_at(customer_id, before=before)]
        if self.base is not None:
            found.append(self.base.last_contact_at(customer_id, before=before))
        known = [f for f in found if f is not None]
        return max(known) if known else None

    def get(self, conversation_id: str) -> Any:
        mine = self.grown.get(conversation_id)
        if mine is None and self.base is not None:
            return self.base.get(conversation_id)
        return mine

    def close(self) -> None:
        self.grown.close()


def _run_chunk(
    engine: Engine,
    chunk: list[Record],
    keep_signals: bool | Literal["all"],
    recording: Any = None,
) -> list[ConversationResult | Record]:
    good = [r.conversation for r in chunk if r.conversation is not None]
    options: dict[str, Any] = {"batch_size": max(len(good), 1)}
    store = getattr(engine, "history", None)
    if recording is not None:
        options["history"] = recording  # earlier contacts, and this replay's own
        options["record"] = True
    elif store is not None:
        options["history"] = store  # read earlier contacts; replay records nothing
    decided = iter(engine.decide_many(good, **options))
    policy = engine.policy
    out: list[ConversationResult | Record] = []
    for record in chunk:
        if record.conversation is None:
            out.append(record)
            continue
        conversation, decisions = next(decided)
        out.append(_result(policy, conversation, decisions, record.line, keep_signals))
    return out


# ---------------------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------------------


def _records(items: Iterable[Record | Conversation]) -> Iterator[Record]:
    for i, item in enumerate(items, start=1):
        yield Record(i, conversation=item) if isinstance(item, Conversation) else item


#: Ways to run: this machine's cores, or a Ray cluster.
Backend = Literal["local", "ray"]

#: Most times a shard is tried again after the worker running it died.
MAX_RETRIES = 3


class Runner:
    """Replays conversations through a policy; yields one result per input record.

    Parameters
    ----------
    policy:
        A policy file, a shipped policy name or a :class:`~escalate.policy.Policy` (a
        variant built in memory, say); with several workers each receives the policy
        itself.
    affect:
        ``"default"`` (the shipped model), ``None`` (dialogue signals only) or a
        zero-argument factory returning an :class:`~escalate.affect.AffectModel`
        (module-level, so that worker processes can import it).
    workers:
        Processes (``backend="local"``; default every core, ``1`` runs in this process)
        or Ray actors (``backend="ray"``; default one per CPU of the cluster).
    chunk_size:
        Conversations per chunk: one affect batch.
    history:
        A history store or URL with the contacts that preceded the replayed ones,
        passed to ``Engine.from_policy(history=...)`` and read (never written) by
        :meth:`~escalate.engine.Engine.decide_many`. By default replay starts from an
        empty store (``memory://``: every customer is new, ``history.*`` signals read no
        earlier contact) and never opens the default history file. With several workers each
        opens its own connection: use a store that several processes can read (a SQLite
        file, Postgres), not an in-memory one.
    keep_signals:
        Keep the values of the signals the policy reads at every decided turn (sweeps
        need them; they cost memory); ``"all"`` keeps every signal (``escalate tune``).
    affect_batch:
        User messages per call of the shipped affect model (``affect="default"``). 1, the
        default, scores every message alone, exactly as a live session does, so each
        replayed decision is the live one. Larger batches are faster (about 1.4 times at
        32 on two cores), but int8 noise then lets a message's scores depend on the
        messages batched with it (the model card gives the size), so a decision near a
        threshold can differ from the live one. Results still do not depend on
        ``workers``: chunks, and so batches, are cut the same way.
    progress:
        Show a progress bar on standard error; default: when it is a terminal.
    backend:
        ``"local"`` (a process pool on this machine) or ``"ray"`` (a pool of Ray actors;
        needs ``pip install 'escalate[ray]'``). Every backend gives the same results.
    address:
        With ``backend="ray"``: the cluster to join (``"auto"``, ``"ray://head:10001"``);
        ``None`` starts Ray on this machine for the run.
    build_history:
        Record each replayed conversation in a history store that later conversations of
        the same customer read (repeat contacts within the archive). Conversations are
        partitioned by customer and each partition replayed in time order by one worker,
        so a conversation sees every earlier conversation of its customer and no later
        one (see :mod:`escalate.replay.shards`); results then come partition by
        partition (bad records first), not in input order. ``history`` stays read-only.
    partitions:
        Partitions of ``build_history`` (default: one per 32 MiB of input, at least 16).
        Results do not depend on it, only the order in which they come.
    shard_size:
        Conversations per shard without ``build_history`` (rounded up to whole chunks):
        the unit a worker runs and a checkpoint keeps.
    checkpoint:
        A folder where each finished shard's results are written; a run given a folder
        with shards of the same run loads them and replays only the others (resume).

    Examples
    --------
    >>> from escalate.models import Conversation, Turn
    >>> runner = Runner("dialogue_only", affect=None, workers=1)
    >>> c = Conversation(id="c1", turns=[Turn(role="user", text="get me a real person")])
    >>> [(r.id, r.escalated) for r in runner.run([c])]
    [('c1', True)]
    """

    def __init__(
        self,
        policy: str | Path | Policy,
        *,
        affect: AffectSpec = "default",
        workers: int | None = None,
        chunk_size: int = 64,
        history: Any = None,
        keep_signals: bool | Literal["all"] = False,
        progress: bool | None = None,
        affect_batch: int = 1,
        backend: Backend = "local",
        address: str | None = None,
        build_history: bool = False,
        partitions: int | None = None,
        shard_size: int = 1024,
        checkpoint: str | Path | None = None,
    ) -> None:
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise InputError(
                f"must be a positive integer or None, got {workers!r}", field="workers"
            )
        for name, value in (
            ("chunk_size", chunk_size),
            ("affect_batch", affect_batch),
            ("shard_size", shard_size),
        ):
            if not isinstance(value, int) or value < 1:
                raise InputError(f"must be a positive integer, got {value!r}", field=name)
        if partitions is not None and (not isinstance(partitions, int) or partitions < 1):
            raise InputError(
                f"must be a positive integer or None, got {partitions!r}", field="partitions"
            )
        if backend not in ("local", "ray"):
            raise InputError(f"must be 'local' or 'ray', got {backend!r}", field="backend")
        if address is not None and backend != "ray":
            raise InputError("an address needs backend='ray'", field="address")
        self.backend: Backend = backend
        self.address = address
        self.workers = workers or ((os.cpu_count() or 1) if backend == "local" else 0)
        self.chunk_size = chunk_size
        self.shard_size = math.ceil(shard_size / chunk_size) * chunk_size
        self.progress = progress
        self.build_history = build_history
        self.partitions = partitions
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        # Fail fast, in this process, on a bad policy; the workers get this very object.
        self.policy = (
            policy if isinstance(policy, Policy) else load_policy(policy, affect=affect is not None)
        )
        self._spec = _Spec(
            policy=self.policy,
            affect=affect,
            history=history,
            keep_signals=keep_signals,
            affect_batch=affect_batch,
            chunk_size=chunk_size,
        )
        self.stats = {"conversations": 0, "rejected": 0, "user_turns": 0, "seconds": 0.0}
        self.retries = 0
        #: Peak resident memory of each Ray actor (bytes), after a run on Ray.
        self.worker_peak_rss: list[int] = []

    # -- the run -----------------------------------------------------------------------

    def run(
        self, records: Iterable[Record | Conversation]
    ) -> Iterator[ConversationResult | Record]:
        """Replay every record.

        Yields a :class:`ConversationResult` per conversation and passes bad records (a
        :class:`~escalate.replay.readers.Record` with its error) through unchanged, so
        every input record comes out exactly once: in input order, or with
        ``build_history`` partition by partition. ``records`` may be an
        :class:`~escalate.replay.readers.Inputs` (many files), whose size gives the
        progress bar its total.
        """
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        start = time.perf_counter()
        bar = _Bar(self.policy.name) if show else None
        try:
            for item in self._stream(records, bar):
                self._count(item)
                if bar is not None:
                    bar.step(self.stats)
                yield item
        finally:
            if bar is not None:
                bar.close()
        self.stats["seconds"] = time.perf_counter() - start

    def _count(self, item: ConversationResult | Record) -> None:
        if isinstance(item, ConversationResult):
            self.stats["conversations"] += 1
            self.stats["user_turns"] += item.user_turns
        else:
            self.stats["rejected"] += 1

    def _manifest(
        self, records: Iterable[Record | Conversation], partitions: int
    ) -> dict[str, Any]:
        from escalate.replay.shards import fingerprint

        spec = self._spec
        affect = (
            spec.affect
            if spec.affect in (None, "default")
            else getattr(spec.affect, "__qualname__", repr(spec.affect))
        )
        files = records.fingerprint() if hasattr(records, "fingerprint") else None
        return {
            "policy": self.policy.name,
            "policy_digest": fingerprint(self.policy.spec.model_dump(mode="json")),
            "affect": affect,
            "affect_batch": spec.affect_batch,
            "history": str(spec.history) if spec.history is not None else None,
            "keep_signals": spec.keep_signals,
            "chunk_size": self.chunk_size,
            "shard_size": self.shard_size,
            "build_history": self.build_history,
            "partitions": partitions if self.build_history else None,
            "inputs": files,
        }

    def _stream(
        self, records: Iterable[Record | Conversation], bar: _Bar | None
    ) -> Iterator[ConversationResult | Record]:
        from escalate.replay.shards import Checkpoint, default_partitions

        partitions = self.partitions or default_partitions(getattr(records, "total_bytes", None))
        checkpoint = (
            Checkpoint(self.checkpoint, self._manifest(records, partitions))
            if self.checkpoint is not None
            else None
        )
        if self.build_history:
            yield from self._stream_partitions(records, partitions, checkpoint, bar)
            return
        total = getattr(records, "total_bytes", None)
        if bar is not None and total:
            bar.total(total, "bytes")
        works = self._shards(records)
        yield from self._execute(works, checkpoint, bar)

    def _shards(self, records: Iterable[Record | Conversation]) -> Iterator[_Work]:
        from escalate.replay.shards import iter_batches, records_digest

        for index, batch in enumerate(iter_batches(_records(records), self.shard_size)):
            mark = int(getattr(records, "bytes_read", 0))
            yield _Work(index, records=batch, digest=records_digest(batch), mark=mark)

    def _stream_partitions(
        self,
        records: Iterable[Record | Conversation],
        partitions: int,
        checkpoint: Any,
        bar: _Bar | None,
    ) -> Iterator[ConversationResult | Record]:
        import tempfile

        from escalate.replay.shards import Partitioner

        with tempfile.TemporaryDirectory(prefix="escalate-partitions-") as tmp:
            folder = Path(tmp)
            with Partitioner(folder, partitions) as spill:
                for position, record in enumerate(_records(records)):
                    if record.conversation is None:
                        yield record
                    else:
                        spill.add(record, position)
            counts = spill.counts
            if bar is not None:
                bar.total(sum(counts) + int(self.stats["rejected"]), "conversations")

            def works() -> Iterator[_Work]:
                done = 0
                for k, path in enumerate(spill.paths):
                    data = path.read_bytes()
                    done += counts[k]
                    digest = f"partition {k}/{partitions}: {counts[k]}"
                    yield _Work(k, partition=data, digest=digest, mark=done)

            yield from self._execute(works(), checkpoint, bar)

    def _execute(
        self, works: Iterator[_Work], checkpoint: Any, bar: _Bar | None
    ) -> Iterator[ConversationResult | Record]:
        """Run the shards not already in ``checkpoint``; yield results in shard order."""
        waiting: list[tuple[_Work, list[ConversationResult] | None]] = []

        def todo() -> Iterator[_Work]:
            for work in works:
                done = checkpoint.load(work.index, work.digest) if checkpoint else None
                waiting.append((work, done))
                if done is None:
                    yield work

        if self.backend == "ray":
            from escalate.replay._ray import run_on_ray

            ran = run_on_ray(self._spec, todo(), self.workers or None, self.address, self)
        elif self.workers > 1:
            ran = self._run_pool(todo())
        else:
            ran = self._run_here(todo())
        for work, out in _ordered(waiting, ran):
            if checkpoint is not None and not isinstance(out, _Loaded):
                checkpoint.save(
                    work.index,
                    work.digest,
                    (r for r in out if isinstance(r, ConversationResult)),
                )
            yield from out
            if bar is not None:
                bar.mark(work.mark)

    def _run_here(self, works: Iterator[_Work]) -> Iterator[list[ConversationResult | Record]]:
        engine = _build_engine(self._spec)
        for work in works:
            yield _run_work(engine, self._spec, work)

    def _run_pool(self, works: Iterator[_Work]) -> Iterator[list[ConversationResult | Record]]:
        """Shards on a process pool, a bounded number in flight; when a worker dies the
        pool is replaced and the shards not yet returned run again (each counted once)."""
        from concurrent.futures.process import BrokenProcessPool

        context = multiprocessing.get_context("spawn")
        in_flight = self.workers * 2
        pending: deque[tuple[_Work, Future[list[ConversationResult | Record]]]] = deque()
        source = iter(works)
        #: Shards taken from ``source`` but not submitted to a live pool, in order: those
        #: lost with a broken pool (the submitted ones first), then one whose submission
        #: found the pool already broken.
        todo: deque[_Work] = deque()
        failures = 0
        while True:
            with ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_init_worker, initargs=(self._spec,)
            ) as pool:
                try:
                    while todo:
                        pending.append((todo[0], pool.submit(_run_work_in_worker, todo[0])))
                        todo.popleft()
                    for work in source:
                        todo.append(work)
                        pending.append((work, pool.submit(_run_work_in_worker, work)))
                        todo.pop()
                        while len(pending) >= in_flight:
                            yield pending[0][1].result()
                            pending.popleft()
                    while pending:
                        yield pending[0][1].result()
                        pending.popleft()
                    return
                except BrokenProcessPool:
                    failures += 1
                    self.retries += 1
                    if failures > MAX_RETRIES:
                        raise
                    todo = deque([*(work for work, _ in pending), *todo])
                    pending.clear()
                    continue


class _Loaded(list):  # type: ignore[type-arg]
    """Results read back from a checkpoint (not written again)."""


def _ordered(
    waiting: list[tuple[_Work, list[ConversationResult] | None]],
    ran: Iterator[list[ConversationResult | Record]],
) -> Iterator[tuple[_Work, list[ConversationResult | Record]]]:
    """Pair each shard with its results, in shard order: loaded ones as they are, run ones
    from ``ran`` (which yields them in the order they were handed out)."""
    position = 0
    for out in ran:
        while True:
            work, done = waiting[position]
            position += 1
            if done is None:
                yield work, out
                break
            yield work, _Loaded(_merge_loaded(work, done))
    while position < len(waiting):  # loaded shards after the last one run
        work, done = waiting[position]
        position += 1
        assert done is not None
        yield work, _Loaded(_merge_loaded(work, done))


def _merge_loaded(work: _Work, done: list[ConversationResult]) -> list[ConversationResult | Record]:
    """A finished shard's results with its bad records put back in their places."""
    if work.records is None:
        return list(done)
    results = iter(done)
    return [r if r.conversation is None else next(results) for r in work.records]


class _Bar:
    """The progress bar (rich), against a total once one is known."""

    def __init__(self, policy: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._start = time.perf_counter()
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]replay[/] {task.fields[policy]}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[conversations]:,} conversations"),
            TextColumn("{task.fields[turns]:,} user turns"),
            TextColumn("{task.fields[rate]:,.0f} turns/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "replay", total=None, policy=policy, conversations=0, turns=0, rate=0.0
        )
        self._unit: str | None = None

    def total(self, total: int, unit: str) -> None:
        self._unit = unit
        self._progress.update(self._task, total=total, completed=0)

    def step(self, stats: dict[str, Any]) -> None:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        done = int(stats["conversations"] + stats["rejected"])
        fields: dict[str, Any] = {
            "conversations": done,
            "turns": int(stats["user_turns"]),
            "rate": stats["user_turns"] / elapsed,
        }
        if self._unit == "conversations":
            fields["completed"] = done
        self._progress.update(self._task, **fields)

    def mark(self, mark: int) -> None:
        if self._unit == "bytes":
            self._progress.update(self._task, completed=mark)

    def close(self) -> None:
        self._progress.stop()


def collect(
    items: Iterable[ConversationResult | Record],
) -> tuple[list[ConversationResult], list[InputError]]:
    """Split a run's output into results and the errors of rejected records."""
    results: list[ConversationResult] = []
    errors: list[InputError] = []
    for item in items:
        if isinstance(item, ConversationResult):
            results.append(item)
        elif item.error is not None:
            errors.append(item.error)
    return results, errors
