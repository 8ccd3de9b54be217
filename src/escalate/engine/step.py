"""One turn of a conversation: the state before it in, the state after it and a decision out.

Everything here is a pure function of its arguments (the clock and the history lookup
are passed in), so a live session (:mod:`escalate.engine.session`) and a replay
(:meth:`Engine.decide_many <escalate.engine.Engine.decide_many>`) take exactly the same
step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from escalate.affect.base import AffectScores, MessageContext, affect_signals
from escalate.affect.embedding import TextEmbedder
from escalate.engine.state import SessionState
from escalate.models import (
    ACTION_STRENGTH,
    ContactRecord,
    Decision,
    Failure,
    HandoffPacket,
    Priority,
    Reason,
    Signals,
    Turn,
)
from escalate.packet import build_packet
from escalate.policy import Policy
from escalate.policy.decide import Memory, Role, decide
from escalate.signals.catalog import (
    CATALOG,
    LATEST_TURN_SIGNALS,
    from_sources,
    requires_history,
)
from escalate.signals.dialogue import DialogueAnalyzer
from escalate.signals.history import MAX_TOPIC_TEXT, HistoryLookup, topic_of, unknown_history
from escalate.signals.trajectory import extend_series, trajectory_signals

__all__ = [
    "Compiled",
    "affect_failure",
    "compile_policy",
    "history_failure",
    "late_failure",
    "message_context",
    "prepare",
    "session_failure",
    "step",
]

_log = logging.getLogger("escalate")

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


#: What a failing affect model leaves unknown.
_AFFECT_SIGNALS = from_sources("affect", "trajectory")
#: What a failing history store leaves unknown.
_HISTORY_SIGNALS = from_sources("history")
#: What an unreadable session state leaves unknown: everything about earlier turns.
_EARLIER_TURN_SIGNALS = from_sources("dialogue", "trajectory") - LATEST_TURN_SIGNALS


def affect_failure(message: str) -> Failure:
    """The affect model failed: no affect signal, and so no trajectory, is known."""
    return Failure(message=message, signals=_AFFECT_SIGNALS)


def history_failure(message: str) -> Failure:
    """The history store failed: no history signal is known."""
    return Failure(message=message, signals=_HISTORY_SIGNALS)


def session_failure(message: str) -> Failure:
    """The conversation's saved state could not be read: its earlier turns, and so every
    signal and guard that needs them, are unknown."""
    return Failure(message=message, signals=_EARLIER_TURN_SIGNALS, memory=True)


def message_context(turns: Sequence[Turn]) -> MessageContext:
    """What came before the next customer message: the bot's latest message and the
    customer's latest message (each with text; ``None`` when there is none).

    Before the customer's first message there is no context: a bot message the customer
    has not yet answered anything before (a greeting, a menu) says nothing of their
    experience, and the context heads, which learned bot messages as answers to the
    customer, read ordinary first messages after a greeting as somewhat dissatisfied.

    Examples
    --------
    >>> message_context([Turn(role="user", text="Where is my refund?"),
    ...                  Turn(role="bot", text="Refunds take 5-7 days.")])
    MessageContext(bot='Refunds take 5-7 days.', user='Where is my refund?')
    >>> message_context([Turn(role="bot", text="Hi! How can I help you today?")])
    MessageContext(bot=None, user=None)
    """
    bot: str | None = None
    user: str | None = None
    for turn in reversed(turns):
        if bot is None and turn.role == "bot" and turn.has_text:
            bot = turn.text
        elif user is None and turn.role == "user" and turn.has_text:
            user = turn.text
        if bot is not None and user is not None:
            break
    if user is None:
        return MessageContext()
    return MessageContext(bot=bot, user=user)


def prepare(
    compiled: Compiled,
    state: SessionState,
    turn: Turn,
    now: datetime,
    lookup: HistoryLookup | None,
) -> tuple[SessionState, Failure | None]:
    """Track the conversation's topic, and compute the history signals when the
    conversation starts or its topic becomes known. Returns the state, and the failure
    when the history store failed."""
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
        failure = history_failure(f"history store: {type(exc).__name__}: {exc}")
        return state.model_copy(update={"history_error": failure.message}), failure
    update = {"history": values, "history_error": None}
    if adopted is not None and state.topic is None:
        update["topic"] = adopted
    return state.model_copy(update=update), None


def step(
    compiled: Compiled,
    state: SessionState,
    turn: Turn,
    scores: AffectScores | None,
    failures: Sequence[Failure],
    at: datetime,
    lookup: HistoryLookup | None = None,
    embedder: TextEmbedder | None = None,
) -> tuple[SessionState, Decision]:
    """Advance ``state`` by ``turn`` and decide it with :func:`~escalate.policy.decide.decide`.

    Customer turns are decided; so are bot turns when the policy decides on them
    (``decide_on: [user, bot]``), with the customer's latest scores; other turns are
    recorded and answered with ``continue``. ``scores`` are the affect model's scores of
    a customer turn's text (``None`` without);
    ``failures`` the components that failed on the way (the model, a store); ``at`` the
    time of the turn (its timestamp, else the engine's clock).
    """
    policy, analyzer = compiled.policy, compiled.analyzer
    index = len(state.turns)
    dialogue = analyzer.advance(state.dialogue, turn)
    update: dict[str, Any] = {
        "turns": (*state.turns, turn),
        "dialogue": dialogue,
        "version": state.version + 1,
    }
    role: Role
    if turn.role == "user":
        role = "user"
    elif turn.role == "bot" and policy.decides_on_bot_turns:
        role = "bot"
    else:
        return state.model_copy(update=update), Decision(
            conversation_id=state.conversation_id,
            turn=index,
            action="continue",
            role=turn.role,
            decided_at=at,
        )

    values: dict[str, float | None] = dict(analyzer.signals(dialogue))
    if state.history is not None:
        values.update(state.history)
    values.update(state.customer)
    for name in compiled.optional_names:
        values.setdefault(name, None)
    if role == "user":
        affect = affect_signals(scores) if scores is not None else {}
        series = extend_series(state.series, affect) if affect else state.series
        update["series"] = series
        update["user_affect"] = (*state.user_affect, scores)
    else:  # a bot turn: the customer's latest scores still stand
        latest = next((a for a in reversed(state.user_affect) if a is not None), None)
        affect = affect_signals(latest) if latest is not None else {}
        series = state.series
    if policy.requires_affect or affect:
        values.update(_NO_AFFECT)
        values.update(affect)
        values.update(trajectory_signals(series, policy.trajectory))
    signals = Signals(values=values)

    user_turn = dialogue.user_turns - 1
    memory = Memory(state.handed_off, state.last_escalation_action, state.last_escalation_user_turn)
    verdict = decide(
        policy, values, user_turn=user_turn, memory=memory, at=at, failures=failures, role=role
    )
    memory = memory.after(verdict, user_turn)
    update["handed_off"] = memory.handed_off
    update["last_escalation_action"] = memory.last_action
    update["last_escalation_user_turn"] = memory.last_user_turn
    reasons = list(verdict.reasons)
    packet = None
    if verdict.action == "handoff":
        update["outcome"] = "handed_off"
        packet = _packet(
            policy,
            state.model_copy(update=update),
            rule=verdict.rule,
            queue=verdict.queue,
            priority=verdict.priority,
            reasons=reasons,
            values=values,
            created_at=at,
            lookup=lookup,
            embedder=embedder,
        )
    decision = Decision(
        conversation_id=state.conversation_id,
        turn=index,
        action=verdict.action,
        role=role,
        rule=verdict.rule,
        reasons=reasons,
        queue=verdict.queue,
        priority=verdict.priority,
        guard=verdict.guard,
        suppressed=verdict.suppressed,
        packet=packet,
        signals=signals,
        failures=tuple(failures),
        decided_at=at,
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
