"""How a policy decides one user turn: first match, then the guards.

This is the one implementation. The engine calls :func:`decide` at every live or
replayed user turn, and replay's sweep calls it again on the values the replay kept, so
a sweep can never disagree with the engine. It is a pure function: the time of the turn
and what the guards remember of earlier decisions (:class:`Memory`) are passed in.

Order
-----
1. The explicit-request guard, then the rules in order: the first whose condition
   holds gives the action (none: ``continue``). When a component failed
   (:class:`~escalate.models.Failure`), the first whose outcome depends on what the
   failure left unknown gives the policy's ``on_error`` instead (see :func:`decide`).
2. Guards, on an action other than ``continue``: ``single_handoff`` (no second handoff
   in a conversation already handed off), ``cooldown`` (the same or a weaker action is
   not repeated within ``cooldown_turns`` user turns; an explicit request and
   ``on_error`` are exempt) and ``business_hours`` (an offer or handoff outside the
   hours becomes the policy's ``outside`` action, unless its priority is exempt).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from escalate.models import ACTION_STRENGTH, Action, Failure, Priority, Reason
from escalate.policy.loader import CompiledRule, Policy

__all__ = ["Memory", "Role", "Verdict", "decide"]

Values = Mapping[str, float | None]
#: Whose turn is decided.
Role = Literal["user", "bot"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a policy decided at one user turn.

    ``rule`` is the rule (or guard) that decided, ``reasons`` the conditions that held,
    ``guard`` a guard that changed the rules' action and ``suppressed`` the action it
    replaced.

    Examples
    --------
    >>> Verdict("continue").escalates
    False
    """

    action: Action
    rule: str | None = None
    reasons: tuple[Reason, ...] = ()
    queue: str | None = None
    priority: Priority | None = None
    guard: str | None = None
    suppressed: Action | None = None

    @property
    def escalates(self) -> bool:
        """True when the action involves a person."""
        return self.action != "continue"


@dataclass(frozen=True, slots=True)
class Memory:
    """What the guards remember of a conversation's earlier decisions.

    Examples
    --------
    >>> m = Memory().after(Verdict("handoff"), user_turn=2)
    >>> m.handed_off, m.last_action, m.last_user_turn
    (True, 'handoff', 2)
    """

    handed_off: bool = False
    last_action: Action | None = None
    last_user_turn: int | None = None

    def after(self, verdict: Verdict, user_turn: int) -> Memory:
        """The memory once ``verdict`` was taken at ``user_turn``."""
        if not verdict.escalates:
            return self
        return Memory(
            handed_off=self.handed_off or verdict.action == "handoff",
            last_action=verdict.action,
            last_user_turn=user_turn,
        )


def _matched(rule: CompiledRule, values: Values) -> Verdict:
    match = rule.match(values)
    assert match is not None
    return Verdict(match.action, match.rule, tuple(match.reasons), match.queue, match.priority)


def _candidates(policy: Policy, role: Role) -> list[CompiledRule]:
    """The explicit request (customer turns only) and the rules for turns of ``role``."""
    explicit = policy.explicit_request if role == "user" else None
    return [
        *([explicit] if explicit is not None else []),
        *(r for r in policy.rules if r.applies_to(role)),
    ]


def _first_match(policy: Policy, values: Values, role: Role) -> tuple[Verdict, bool]:
    """The rules' verdict, and whether it is the explicit request's."""
    for rule in _candidates(policy, role):
        if rule.expression.evaluate(values):
            return _matched(rule, values), rule is policy.explicit_request
    return Verdict("continue"), False


def _first_match_despite(
    policy: Policy, values: Values, failed: frozenset[str], role: Role
) -> tuple[Verdict | CompiledRule, bool]:
    """First match in three-valued logic: the verdict of the first rule that holds, or
    the first rule whose outcome depends on a failed signal; and whether it is the
    explicit request."""
    explicit = policy.explicit_request
    for rule in _candidates(policy, role):
        holds = rule.expression.truth(values, failed)
        if holds is None:
            return rule, rule is explicit
        if holds:
            return _matched(rule, values), rule is explicit
    return Verdict("continue"), False


def _on_error(policy: Policy, failures: Sequence[Failure], why: str) -> Verdict:
    detail = "; ".join(f.message for f in failures)
    return Verdict(
        policy.on_error,
        "on_error",
        (Reason(code="on_error", detail=f"{detail} ({why})"),),
        guard="on_error",
    )


def decide(
    policy: Policy,
    values: Values,
    *,
    user_turn: int,
    memory: Memory,
    at: datetime | None,
    failures: Sequence[Failure] = (),
    role: Role = "user",
) -> Verdict:
    """Decide one turn: a customer's message, or (for a policy that decides on bot turns)
    a bot's message before it reaches the customer.

    On a bot turn only the rules with ``on: bot`` or ``on: any`` are read, and not the
    explicit-request guard, which answers what a customer says. The guards apply as on
    a customer turn; a bot turn counts for the cooldown as the customer turn before it.

    When components failed, the explicit request and the rules are read in Kleene's
    three-valued logic over the signals the failures left unknown (see
    :meth:`~escalate.policy.expressions.Expression.truth`). A rule whose outcome does
    not depend on them decides as usual, so dialogue rules and the keyword part of an
    explicit request still decide while the affect model or the history store is down;
    the first one whose outcome does depend on them makes the decision the policy's
    ``on_error``. When the conversation's earlier turns are unknown
    (``Failure.memory``), an action that the single-handoff or cooldown guard could
    have suppressed follows ``on_error`` too, except an explicit request, which always
    wins. The reasons name every failure that touches the policy: ``on_error``'s
    reason says what failed and what could not be decided; a rule that decided despite
    a failure carries a ``degraded`` reason naming it. Failures of components the
    policy does not read are ignored.

    Parameters
    ----------
    policy:
        The policy.
    values:
        The signal values at this turn.
    user_turn:
        0-based index of this turn among the conversation's user turns, or of the last
        user turn before a bot turn (for the cooldown).
    memory:
        What the guards remember of the earlier decisions.
    at:
        When the turn happened (for business hours); ``None`` only when the policy has no
        business hours.
    failures:
        Components that failed at this turn.
    role:
        ``user`` or ``bot``: whose turn it is.

    Raises
    ------
    ValueError
        ``at`` is ``None`` and business hours must be checked.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from escalate.models import Failure
    >>> from escalate.policy import load_policy
    >>> policy = load_policy("default")
    >>> down = Failure(message="affect model: RuntimeError: down",
    ...                signals=frozenset({"human_request", "sentiment.negative"}))
    >>> verdict = decide(policy, {"dialogue.asked_for_human": 1}, user_turn=0,
    ...                  memory=Memory(), at=datetime(2026, 5, 4, 10, tzinfo=UTC),
    ...                  failures=[down])
    >>> verdict.action, verdict.rule, str(verdict.reasons[-1])
    ('handoff', 'explicit_request', 'degraded: affect model: RuntimeError: down')
    """
    names = policy.signal_names
    relevant = [f for f in failures if f.memory or not f.signals.isdisjoint(names)]
    if not relevant:
        verdict, explicit = _first_match(policy, values, role)
        return _guard(policy, verdict, explicit=explicit, user_turn=user_turn, memory=memory, at=at)
    failed = frozenset().union(*(f.signals for f in relevant))
    forgotten = any(f.memory for f in relevant)
    guards = policy.guards
    found, explicit = _first_match_despite(policy, values, failed, role)
    if isinstance(found, CompiledRule):
        unknown = ", ".join(sorted(n for n in found.expression.names if n in failed))
        verdict = _on_error(policy, relevant, f"rule {found.id!r} needs {unknown}")
    elif (
        forgotten
        and found.escalates
        and not explicit
        and (guards.single_handoff or guards.cooldown_turns > 0)
    ):
        verdict = _on_error(
            policy, relevant, "the single-handoff and cooldown guards need the earlier turns"
        )
    else:
        degraded = tuple(Reason(code="degraded", detail=f.message) for f in relevant)
        verdict = dataclasses.replace(found, reasons=(*found.reasons, *degraded))
    if forgotten:
        memory = Memory()  # what it would remember is unknown: only business hours apply
    return _guard(policy, verdict, explicit=explicit, user_turn=user_turn, memory=memory, at=at)


def _guard(
    policy: Policy,
    verdict: Verdict,
    *,
    explicit: bool,
    user_turn: int,
    memory: Memory,
    at: datetime | None,
) -> Verdict:
    """Apply single handoff, cooldown and business hours to the rules' verdict."""
    action = verdict.action
    if action == "continue":
        return verdict
    guards = policy.guards
    if memory.handed_off and guards.single_handoff:
        return _suppress(verdict, "single_handoff", "continue")
    if (
        not explicit
        and verdict.guard is None
        and memory.last_user_turn is not None
        and user_turn - memory.last_user_turn <= guards.cooldown_turns
        and ACTION_STRENGTH[action] <= ACTION_STRENGTH[memory.last_action or "continue"]
    ):
        return _suppress(verdict, "cooldown", "continue")
    hours = guards.business_hours
    if (
        action in ("offer_human", "handoff")
        and hours is not None
        and hours.applies_to(verdict.priority)
    ):
        if at is None:
            raise ValueError("business hours need the time of the turn; got none")
        if not hours.is_open(at):
            return _suppress(verdict, "business_hours", hours.outside)
    return verdict


def _suppress(verdict: Verdict, guard: str, action: Action) -> Verdict:
    return Verdict(
        action,
        verdict.rule,
        verdict.reasons,
        verdict.queue,
        verdict.priority,
        guard=guard,
        suppressed=verdict.action,
    )
