"""Vary one threshold of a rule and see what it does to deflection, recall and cost.

The model runs once: :class:`~escalate.replay.runner.Runner` keeps the values of the
signals the policy reads at every user turn (``keep_signals=True``), and each variant of
the policy is then re-evaluated on those stored values, guards included (explicit
request, cooldown, single handoff, business hours, ``on_error``) by the engine's own
:func:`~escalate.policy.decide.decide`, with the time and the failures of each turn as the
replay recorded them. A variant only changes a number in one rule's ``when``, so it reads the
same signals as the original.

Which number
------------
:func:`thresholds` lists the numeric literals of a rule's ``when`` that are compared
with a signal (``sentiment.negative >= 0.7`` gives ``sentiment.negative``: 0.7). A rule
with one such literal needs nothing more; with several, name the signal
(``signal="dialogue.user_repeats"``); a signal compared with several literals (``0.2 <=
x < 0.8``) needs ``occurrence`` (0-based, in text order).
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from escalate.policy import Policy
from escalate.policy.decide import Memory, decide
from escalate.policy.expressions import compile_expression
from escalate.policy.loader import CompiledRule
from escalate.policy.schema import Costs
from escalate.policy.scores import ScoredExpression, bind_scores
from escalate.policy.shadowing import dotted_name, number
from escalate.replay.metrics import MetricsAccumulator
from escalate.replay.runner import ConversationResult, TurnOutcome, escalation_score
from escalate.signals.catalog import CATALOG

__all__ = [
    "SweepPoint",
    "Threshold",
    "default_target",
    "policy_variant",
    "simulate",
    "sweep",
    "sweep_values",
    "thresholds",
]


@dataclass(frozen=True, slots=True)
class Threshold:
    """One numeric literal of a rule's ``when`` that is compared with a signal.

    ``start`` and ``end`` are character offsets into the ``when`` text.

    Examples
    --------
    >>> from escalate.policy import load_policy
    >>> rule = load_policy("baseline_sentiment").rules[0]
    >>> thresholds(rule)
    [Threshold(signal='sentiment.negative', value=0.7, start=22, end=25)]
    """

    signal: str
    value: float
    start: int
    end: int


def thresholds(rule: CompiledRule) -> list[Threshold]:
    """The numeric literals of ``rule``'s ``when`` compared directly with a signal."""
    text = rule.expression.source.replace("\r", " ").replace("\n", " ")
    body = text.lstrip()
    offset = len(text) - len(body)
    encoded = body.encode("utf-8")
    tree = ast.parse(body, mode="eval")
    found: list[Threshold] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for left, right in itertools.pairwise(operands):
            for name_node, num_node in ((left, right), (right, left)):
                name, value = dotted_name(name_node), number(num_node)
                if name is None or value is None:
                    continue
                start = len(encoded[: num_node.col_offset].decode("utf-8")) + offset
                end = len(encoded[: num_node.end_col_offset].decode("utf-8")) + offset
                found.append(Threshold(name, value, start, end))
    unique = {(t.start, t.end): t for t in found}
    return sorted(unique.values(), key=lambda t: t.start)


def _pick(rule: CompiledRule, signal: str | None, occurrence: int | None) -> Threshold:
    candidates = thresholds(rule)
    if signal is not None:
        candidates = [t for t in candidates if t.signal == signal]
    if not candidates:
        listed = ", ".join(f"{t.signal} ({t.value:g})" for t in thresholds(rule)) or "none"
        raise ValueError(
            f"rule {rule.id!r} compares no signal{'' if signal is None else ' ' + repr(signal)} "
            f"with a number; its thresholds: {listed}"
        )
    if occurrence is not None:
        if not 0 <= occurrence < len(candidates):
            raise ValueError(f"occurrence must be in 0..{len(candidates) - 1}, got {occurrence!r}")
        return candidates[occurrence]
    if len(candidates) > 1:
        listed = ", ".join(f"{t.signal} ({t.value:g})" for t in candidates)
        raise ValueError(
            f"rule {rule.id!r} has {len(candidates)} thresholds ({listed}); "
            "choose one with signal= (and occurrence= for the same signal twice)"
        )
    return candidates[0]


def _find_rule(policy: Policy, rule_id: str) -> CompiledRule:
    for rule in policy.rules:
        if rule.id == rule_id:
            return rule
    if policy.explicit_request is not None and rule_id == "explicit_request":
        return policy.explicit_request
    ids = ", ".join(r.id for r in policy.rules)
    raise ValueError(f"policy {policy.name!r} has no enabled rule {rule_id!r}; its rules: {ids}")


def policy_variant(
    policy: Policy,
    rule_id: str,
    value: float,
    *,
    signal: str | None = None,
    occurrence: int | None = None,
) -> Policy:
    """A copy of ``policy`` with one threshold of rule ``rule_id`` set to ``value``.

    Examples
    --------
    >>> from escalate.policy import load_policy
    >>> p = policy_variant(load_policy("baseline_sentiment"), "sentiment", 0.5)
    >>> p.rules[0].expression.source
    'sentiment.negative >= 0.5'
    """
    rule = _find_rule(policy, rule_id)
    target = _pick(rule, signal, occurrence)
    text = rule.expression.source
    literal = repr(float(value)) if not float(value).is_integer() else str(int(value))
    if value < 0:
        literal = f"({literal})"
    new_text = text[: target.start] + literal + text[target.end :]
    scores = rule.expression.scores if isinstance(rule.expression, ScoredExpression) else ()
    known = set(CATALOG) | {score.signal for score in scores}
    expression = bind_scores(
        compile_expression(new_text, known=known), {score.name: score for score in scores}
    )
    new_rule = dataclasses.replace(rule, expression=expression)
    rules = tuple(new_rule if r is rule else r for r in policy.rules)
    explicit = new_rule if rule is policy.explicit_request else policy.explicit_request
    return Policy(policy.spec, rules, explicit, name=policy.name, source=policy.source)


def simulate(policy: Policy, result: ConversationResult) -> ConversationResult:
    """Re-decide a replayed conversation under ``policy`` from its stored signal values.

    Each turn is decided by :func:`~escalate.policy.decide.decide`, the engine's own
    first match and guards, with the time and the failures the replay recorded. Needs a
    result replayed with ``keep_signals=True`` under a policy that reads the same signals.
    """
    memory = Memory()
    outcomes: list[TurnOutcome] = []
    fired: list[str] = []
    for i, stored in enumerate(result.decisions):
        if stored.signals is None:
            raise ValueError("simulate needs stored signal values: replay with keep_signals=True")
        values = stored.signals
        user_turn = stored.user_turn if stored.user_turn is not None else i
        if stored.role == "bot" and not policy.decides_on_bot_turns:
            continue
        verdict = decide(
            policy,
            values,
            user_turn=user_turn,
            memory=memory,
            at=stored.timestamp,
            failures=stored.failures,
            role=stored.role,
        )
        memory = memory.after(verdict, user_turn)
        if verdict.escalates and verdict.rule is not None:
            fired.append(verdict.rule)
        outcomes.append(
            TurnOutcome(
                turn=stored.turn,
                action=verdict.action,
                rule=verdict.rule,
                guard=verdict.guard,
                score=escalation_score(policy, values, stored.role),
                signals=values,
                timestamp=stored.timestamp,
                failures=stored.failures,
                role=stored.role,
                user_turn=stored.user_turn,
            )
        )
    return dataclasses.replace(result, decisions=tuple(outcomes), all_rules=tuple(fired))


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """The metrics of one variant of a sweep.

    Examples
    --------
    >>> SweepPoint(value=0.5, metrics={"recall": 0.4}).metrics["recall"]
    0.4
    """

    value: float
    metrics: dict[str, Any]


def sweep_values(
    results: Sequence[ConversationResult], signal: str, current: float, *, points: int = 21
) -> list[float]:
    """Candidate thresholds: quantiles of the signal's observed values, evenly spaced
    values between its lowest and highest, and ``current``.

    Whole-number signals (counts) get every whole value between their observed minimum
    and maximum (at most ``points`` of them).

    Examples
    --------
    >>> sweep_values([], "sentiment.negative", 0.7)
    [0.7]
    """
    observed = np.array(
        [
            v
            for r in results
            for d in r.decisions
            if d.signals is not None
            and (v := d.signals.get(signal)) is not None
            and math.isfinite(v)
        ],
        dtype=np.float64,
    )
    if observed.size == 0:
        return [float(current)]
    if np.all(observed == np.round(observed)):
        low, high = int(observed.min()), int(observed.max()) + 1
        step = max(1, math.ceil((high - low + 1) / points))
        values: set[float] = {float(v) for v in range(low, high + 1, step)}
    else:
        half = max(2, points // 2 + 1)
        quantiles = np.quantile(observed, np.linspace(0, 1, half))
        even = np.linspace(observed.min(), observed.max(), half)
        values = {round(float(q), 4) for q in (*quantiles, *even)}
    values.add(float(current))
    return sorted(float(v) for v in values)


def sweep(
    policy: Policy,
    results: Sequence[ConversationResult],
    rule_id: str,
    values: Iterable[float] | None = None,
    *,
    signal: str | None = None,
    occurrence: int | None = None,
    costs: Costs | None = None,
) -> tuple[Threshold, list[SweepPoint]]:
    """Metrics of ``policy`` with one threshold of ``rule_id`` set to each of ``values``.

    ``results`` come from a replay of ``policy`` with ``keep_signals=True``; no model
    runs here. Without ``values``, :func:`sweep_values` picks them. Returns the
    threshold that was varied and one :class:`SweepPoint` per value, in increasing order.

    Examples
    --------
    >>> from escalate.models import Conversation, Turn
    >>> from escalate.replay.runner import Runner
    >>> runner = Runner("dialogue_only", affect=None, workers=1, keep_signals=True)
    >>> c = Conversation(id="c", turns=[Turn(role="user", text="no, that's wrong")] * 2)
    >>> results = list(runner.run([c]))
    >>> t, points = sweep(runner.policy, results, "corrected", [2, 3])
    >>> t.signal, [p.metrics["escalated"] for p in points]
    ('dialogue.user_negations', [1, 0])
    """
    rule = _find_rule(policy, rule_id)
    target = _pick(rule, signal, occurrence)
    if values is not None:
        chosen = sorted(float(v) for v in values)
    elif isinstance(rule.expression, ScoredExpression):
        # a score is computed, not kept: compute it from the kept signals
        scored = rule.expression
        chosen = sweep_values(
            [
                dataclasses.replace(
                    r,
                    decisions=tuple(
                        dataclasses.replace(d, signals=scored.with_scores(d.signals))
                        if d.signals is not None
                        else d
                        for d in r.decisions
                    ),
                )
                for r in results
            ],
            target.signal,
            target.value,
        )
    else:
        chosen = sweep_values(results, target.signal, target.value)
    cost_model = costs if costs is not None else policy.costs
    points: list[SweepPoint] = []
    for value in chosen:
        variant = policy_variant(
            policy, rule_id, value, signal=target.signal, occurrence=_occurrence(rule, target)
        )
        acc = MetricsAccumulator(costs=cost_model)
        for result in results:
            acc.add(simulate(variant, result))
        points.append(SweepPoint(value, acc.result()))
    return target, points


def _occurrence(rule: CompiledRule, target: Threshold) -> int:
    same = [t for t in thresholds(rule) if t.signal == target.signal]
    return same.index(target)


def default_target(policy: Policy) -> tuple[str, Threshold, int] | None:
    """A threshold worth sweeping when none is named: ``(rule id, threshold, occurrence)``.

    The first rule that involves a person and compares a signal with a number; its first
    such number. ``None`` when there is none.

    Examples
    --------
    >>> from escalate.policy import load_policy
    >>> rule, threshold, _ = default_target(load_policy("dialogue_only", affect=False))
    >>> rule, threshold.signal, threshold.value
    ('asked-again', 'dialogue.human_requests', 2.0)
    """
    for rule in policy.rules:
        if rule.action == "continue":
            continue
        found = thresholds(rule)
        if found:
            return rule.id, found[0], 0
    return None
