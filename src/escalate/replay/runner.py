"""Replay stored conversations through the engine, turn by turn, on every core.

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
    keep_signals: bool,
) -> ConversationResult:
    names = sorted(policy.signal_names)
    outcomes: list[TurnOutcome] = []
    fired: list[str] = []
    users_before = [0]
    for turn in conversation.turns:
        users_before.append(users_before[-1] + (turn.role == "user"))
    for decision in decisions:
        values = decision.signals.as_mapping() if decision.signals is not None else {}
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
    )


# ---------------------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Spec:
    policy: Policy
    affect: AffectSpec
    history: Any
    keep_signals: bool
    affect_batch: int = 1


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


def _run_chunk_in_worker(chunk: list[Record]) -> list[ConversationResult | Record]:
    assert _WORKER is not None, "worker not initialised"
    engine, spec = _WORKER
    return _run_chunk(engine, chunk, spec.keep_signals)


def _run_chunk(
    engine: Engine, chunk: list[Record], keep_signals: bool
) -> list[ConversationResult | Record]:
    good = [r.conversation for r in chunk if r.conversation is not None]
    options: dict[str, Any] = {"batch_size": max(len(good), 1)}
    store = getattr(engine, "history", None)
    if store is not None:
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


def _chunks(records: Iterable[Record | Conversation], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for i, item in enumerate(records, start=1):
        record = Record(i, conversation=item) if isinstance(item, Conversation) else item
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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
        Processes; default every core. ``1`` runs in this process.
    chunk_size:
        Conversations per chunk: one affect batch, one unit of work for a worker.
    history:
        A history store or URL with the contacts that preceded the replayed ones,
        passed to ``Engine.from_policy(history=...)`` and read (never written) by
        :meth:`~escalate.engine.Engine.decide_many`. By default replay starts from an
        empty store (``memory://``: every customer is new, ``history.*`` signals read no
        earlier contact) and never opens the default history file. With several workers each
        opens its own connection: use a store that several processes can read (a SQLite
        file, Postgres), not an in-memory one.
    keep_signals:
        Keep the values of the signals the policy reads at every user turn (sweeps
        need them; they cost memory).
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
        keep_signals: bool = False,
        progress: bool | None = None,
        affect_batch: int = 1,
    ) -> None:
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise InputError(
                f"must be a positive integer or None, got {workers!r}", field="workers"
            )
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise InputError(f"must be a positive integer, got {chunk_size!r}", field="chunk_size")
        if not isinstance(affect_batch, int) or affect_batch < 1:
            raise InputError(
                f"must be a positive integer, got {affect_batch!r}", field="affect_batch"
            )
        self.workers = workers or os.cpu_count() or 1
        self.chunk_size = chunk_size
        self.progress = progress
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
        )
        self.stats = {"conversations": 0, "rejected": 0, "user_turns": 0, "seconds": 0.0}

    def run(
        self, records: Iterable[Record | Conversation]
    ) -> Iterator[ConversationResult | Record]:
        """Replay every record, in input order.

        Yields a :class:`ConversationResult` per conversation and passes bad records (a
        :class:`~escalate.replay.readers.Record` with its error) through unchanged, so
        every input record comes out exactly once.
        """
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        start = time.perf_counter()
        stream = self._run_pool(records) if self.workers > 1 else self._run_here(records)
        if not show:
            for item in stream:
                self._count(item)
                yield item
        else:
            yield from self._with_progress(stream)
        self.stats["seconds"] = time.perf_counter() - start

    def _count(self, item: ConversationResult | Record) -> None:
        if isinstance(item, ConversationResult):
            self.stats["conversations"] += 1
            self.stats["user_turns"] += item.user_turns
        else:
            self.stats["rejected"] += 1

    def _with_progress(
        self, stream: Iterator[ConversationResult | Record]
    ) -> Iterator[ConversationResult | Record]:
        from rich.console import Console
        from rich.progress import (
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns = (
            SpinnerColumn(),
            TextColumn("[bold]replay[/] {task.fields[policy]}"),
            TextColumn("{task.completed:,} conversations"),
            TextColumn("{task.fields[turns]:,} user turns"),
            TextColumn("{task.fields[rate]:,.0f} turns/s"),
            TimeElapsedColumn(),
        )
        start = time.perf_counter()
        with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
            task = bar.add_task("replay", total=None, policy=self.policy.name, turns=0, rate=0.0)
            for item in stream:
                self._count(item)
                elapsed = max(time.perf_counter() - start, 1e-9)
                bar.update(
                    task,
                    completed=self.stats["conversations"] + self.stats["rejected"],
                    turns=int(self.stats["user_turns"]),
                    rate=self.stats["user_turns"] / elapsed,
                )
                yield item

    def _run_here(
        self, records: Iterable[Record | Conversation]
    ) -> Iterator[ConversationResult | Record]:
        engine = _build_engine(self._spec)
        for chunk in _chunks(records, self.chunk_size):
            yield from _run_chunk(engine, chunk, self._spec.keep_signals)

    def _run_pool(
        self, records: Iterable[Record | Conversation]
    ) -> Iterator[ConversationResult | Record]:
        context = multiprocessing.get_context("spawn")
        in_flight = self.workers * 3
        with ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_init_worker, initargs=(self._spec,)
        ) as pool:
            pending: deque[Future[list[ConversationResult | Record]]] = deque()
            for chunk in _chunks(records, self.chunk_size):
                pending.append(pool.submit(_run_chunk_in_worker, chunk))
                while len(pending) >= in_flight:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()


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
