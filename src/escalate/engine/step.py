"""One turn of a conversation: the state before it in, the state after it and a decision out.

Everything here is a pure function of its arguments (the clock and the history lookup
are passed in), so a live session (:mod:`escalate.engine.session`) and a replay
(:meth:`Engine.decide_many <escalate.engine.Engine.decide_many>`) take exactly the same
step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from escalate.affect.base import AffectScores, affect_signals
from escalate.affect.embedding import TextEmbedder
from escalate.engine.state import SessionState
from escalate.models import (
    ACTION_STRENGTH,
    Action,
    ContactRecord,
    Decision,
    HandoffPacket,
    Priority,
    Reason,
    Signals,
    Turn,
)
from escalate.packet import build_packet
from escalate.policy import Policy
from escalate.signals.catalog import CATALOG, requires_history
from escalate.signals.dialogue import DialogueAnalyzer
from escalate.signals.history import MAX_TOPIC_TEXT, HistoryLookup, topic_of, unknown_history
from escalate.signals.trajectory import extend_series, trajectory_signals

__all__ = ["Compiled", "compile_policy", "join_errors", "late_failure", "prepare", "step"]

_log = logging.getLogger("escalate")

Clock = Callable[[], datetime]

#: How far back the packet looks for the customer's earlier contacts.
_PACKET_HISTORY = timedelta(days=30)

#: Every affect signal, unknown: the starting point of a user turn that has no scores.
_NO_AFFECT: dict[str, float | None] = {
    n: None for n, spec in CATALOG.items() if spec.source == "affect"
}


@dataclass(frozen=True, slots=True)
class Compiled:
    """A policy with everything derived from it; swapped as one reference on reload.

    Examples
    --------
    >>> from escalate.policy import load_policy
    >>> compile_policy(load_policy("dialogue_only", affect=False)).requires_history
    False
    """

    policy: Policy
    analyzer: DialogueAnalyzer
    #: History and customer signals the policy reads; unknown unless computed.
    optional_names: frozenset[str]
    requires_history: bool


def compile_policy(policy: Policy) -> Compiled:
    """``policy`` with its dialogue analyzer and the names it reads that may be unknown."""
    optional = frozenset(
        n
        for n in policy.signal_names
        if n in CATALOG and CATALOG[n].source in ("history", "customer")
    )
    return Compiled(
        policy,
        DialogueAnalyzer(policy.dialogue),
        optional,
        any(requires_history(n) for n in policy.signal_names),
    )


def join_errors(first: str | None, second: str | None) -> str | None:
    """Two error texts as one (either may be ``None``)."""
    if first and second:
        return f"{first}; {second}"
    return first or second


def prepare(
    compiled: Compiled,
    state: SessionState,
    turn: Turn,
    now: datetime,
    lookup: HistoryLookup | None,
) -> tuple[SessionState, str | None]:
    """Track the conversation's topic, and compute the history signals when the
    conversation starts or its topic becomes known. Returns the state and any error."""
    update: dict[str, Any] = {}
    refresh = state.history is None
    if state.started_at is None:
        update["started_at"] = now
    topic, source = topic_of(turn, compiled.policy.dialogue)
    if source == "intent" and state.topic_source != "intent":
        update.update(topic=topic, topic_source="intent")
        refresh = True
    elif source == "text" and state.topic_source is None:
        update["topic_source"] = "text"
        refresh = True
    if source is not None and state.topic_text is None and turn.text:
        update["topic_text"] = turn.text[:MAX_TOPIC_TEXT]
    if update:
        state = state.model_copy(update=update)
    if not refresh or lookup is None or (turn.role != "user" and state.history is not None):
        return state, None
    if state.customer_id is None:
        return state.model_copy(update={"history": unknown_history()}), None
    try:
        values, adopted = lookup.signals(
            state.customer_id,
            now=state.started_at or now,
            conversation_id=state.conversation_id,
            topic=state.topic if state.topic_source == "intent" else None,
            text=state.topic_text if state.topic_source == "text" else None,
        )
    except Exception as exc:
        message = f"history store: {type(exc).__name__}: {exc}"
        return state.model_copy(update={"history_error": message}), message
    update = {"history": values, "history_error": None}
    if adopted is not None and state.topic is None:
        update["topic"] = adopted
    return state.model_copy(update=update), None


def step(
    compiled: Compiled,
    state: SessionState,
    turn: Turn,
    scores: AffectScores | None,
    error: str | None,
    clock: Clock,
    lookup: HistoryLookup | None = None,
    embedder: TextEmbedder | None = None,
) -> tuple[SessionState, Decision]:
    """Advance ``state`` by ``turn`` and decide; pure apart from the clock.

    ``scores`` are the affect model's scores of the turn's text (``None`` without);
    ``error`` a failure met on the way (the model's, a store's), which makes the
    decision follow the policy's ``on_error``.
    """
    policy, analyzer = compiled.policy, compiled.analyzer
    index = len(state.turns)
    dialogue = analyzer.advance(state.dialogue, turn)
    update: dict[str, Any] = {
        "turns": (*state.turns, turn),
        "dialogue": dialogue,
        "version": state.version + 1,
    }
    if turn.role != "user":
        return state.model_copy(update=update), Decision(
            conversation_id=state.conversation_id, turn=index, action="continue"
        )

    values: dict[str, float | None] = dict(analyzer.signals(dialogue))
    if state.history is not None:
        values.update(state.history)
    values.update(state.customer)
    for name in compiled.optional_names:
        values.setdefault(name, None)
    affect = affect_signals(scores) if scores is not None else {}
    series = extend_series(state.series, affect) if affect else state.series
    update["series"] = series
    update["user_affect"] = (*state.user_affect, scores)
    if policy.requires_affect or affect:
        values.update(_NO_AFFECT)
        values.update(affect)
        values.update(trajectory_signals(series, policy.trajectory))
    signals = Signals(values=values)

    guard: str | None = None
    suppressed: Action | None = None
    rule: str | None = None
    reasons: list[Reason] = []
    queue: str | None = None
    priority: Priority | None = None
    explicit = False
    if error is not None:
        action: Action = policy.on_error
        rule, guard, reasons = "on_error", "on_error", [Reason(code="on_error", detail=error)]
    else:
        match = policy.match_explicit_request(values)
        explicit = match is not None
        if match is None:
            match = policy.evaluate(values)
        if match is None:
            action = "continue"
        else:
            action, rule, reasons = match.action, match.rule, list(match.reasons)
            queue, priority = match.queue, match.priority

    guards = policy.guards
    user_turn = dialogue.user_turns - 1
    if action != "continue":
        if state.handed_off and guards.single_handoff:
            guard, suppressed, action = "single_handoff", action, "continue"
        elif (
            not explicit
            and guard is None
            and state.last_escalation_user_turn is not None
            and user_turn - state.last_escalation_user_turn <= guards.cooldown_turns
            and ACTION_STRENGTH[action]
            <= ACTION_STRENGTH[state.last_escalation_action or "continue"]
        ):
            guard, suppressed, action = "cooldown", action, "continue"
        elif (
            action in ("offer_human", "handoff")
            and (hours := guards.business_hours) is not None
            and hours.applies_to(priority)
            and not hours.is_open(turn.timestamp or clock())
        ):
            guard, suppressed, action = "business_hours", action, hours.outside

    if action != "continue":
        update["last_escalation_action"] = action
        update["last_escalation_user_turn"] = user_turn
    packet = None
    if action == "handoff":
        update["handed_off"] = True
        update["outcome"] = "handed_off"
        packet = _packet(
            policy,
            state.model_copy(update=update),
            rule=rule,
            queue=queue,
            priority=priority,
            reasons=reasons,
            values=values,
            created_at=turn.timestamp or clock(),
            lookup=lookup,
            embedder=embedder,
        )
    decision = Decision(
        conversation_id=state.conversation_id,
        turn=index,
        action=action,
        rule=rule,
        reasons=reasons,
        queue=queue,
        priority=priority,
        guard=guard,
        suppressed=suppressed,
        packet=packet,
        signals=signals,
    )
    return state.model_copy(update=update), decision


def _packet(
    policy: Policy,
    state: SessionState,
    *,
    rule: str | None,
    queue: str | None,
    priority: Priority | None,
    reasons: list[Reason],
    values: dict[str, float | None],
    created_at: datetime,
    lookup: HistoryLookup | None,
    embedder: TextEmbedder | None,
) -> HandoffPacket:
    """The full handoff packet; on any failure, the bare packet (transcript and signals),
    so that a handoff never fails for want of its summary."""
    history: list[ContactRecord] = []
    if lookup is not None and lookup.store is not None and state.customer_id:
        try:
            found = lookup.store.recent(
                state.customer_id, since=created_at - _PACKET_HISTORY, until=created_at
            )
            history = sorted(
                (c for c in found if c.conversation_id != state.conversation_id),
                key=lambda c: c.started_at,
            )
        except Exception as exc:
            _log.warning("handoff packet: earlier contacts unavailable: %s", exc)
    try:
        return build_packet(
            state,
            rule=rule,
            queue=queue,
            priority=priority,
            reasons=reasons,
            signals=values,
            created_at=created_at,
            history=history,
            config=policy.packet,
            dialogue=policy.dialogue,
            embedder=embedder,
        )
    except Exception as exc:
        _log.error("handoff packet: summary failed, sending the bare packet: %s", exc)
        return HandoffPacket(
            conversation_id=state.conversation_id,
            customer_id=state.customer_id,
            channel=state.channel,
            created_at=created_at,
            rule=rule,
            queue=queue,
            priority=priority,
            reasons=reasons,
            transcript=list(state.turns),
            signals=values,
        )


def late_failure(policy: Policy, decision: Decision, error: str) -> Decision:
    """A decision after a failure met once it was taken (its state could not be saved):
    the stronger of its action and the policy's ``on_error``, with the failure named."""
    action = policy.on_error
    return decision.model_copy(
        update={
            "action": action
            if ACTION_STRENGTH[action] > ACTION_STRENGTH[decision.action]
            else decision.action,
            "guard": "on_error",
            "reasons": [*decision.reasons, Reason(code="on_error", detail=error)],
        }
    )
