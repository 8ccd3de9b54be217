"""The engine: a compiled policy, an affect model and stores; sessions observe turns.

A decision at turn *t* only ever sees turns up to *t*: :meth:`Session.observe` is the one
path by which turns enter, and :meth:`Engine.decide` (and replay) drive that same path.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from escalate.affect.base import AffectModel, AffectScores, affect_signals
from escalate.errors import EscalateError, InputError, PolicyError, PolicyProblem
from escalate.models import (
    ACTION_STRENGTH,
    Action,
    Conversation,
    Decision,
    HandoffPacket,
    Priority,
    Reason,
    Signals,
    Turn,
)
from escalate.policy import Policy, load_policy
from escalate.signals.catalog import CATALOG
from escalate.signals.dialogue import DialogueAnalyzer
from escalate.signals.trajectory import extend_series, trajectory_signals
from escalate.stores.session import MemorySessionStore, SessionState, SessionStore

__all__ = ["Engine", "Session"]

#: Locks shared out among conversations; more stripes, fewer unrelated waits.
_LOCK_STRIPES = 256

AffectArg = AffectModel | Literal["default"] | None
Clock = Any  # a zero-argument callable returning an aware datetime


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A policy with everything derived from it; swapped as one reference on reload."""

    policy: Policy
    analyzer: DialogueAnalyzer


#: Every affect signal, unknown: the starting point of a user turn that has no scores.
_NO_AFFECT: dict[str, float | None] = {
    n: None for n, spec in CATALOG.items() if spec.source == "affect"
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _as_turn(turn: Turn | Mapping[str, Any]) -> Turn:
    if isinstance(turn, Turn):
        return turn
    try:
        return Turn.model_validate(turn)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise InputError(first["msg"], field=field) from None


class Engine:
    """Decides, turn by turn, whether a conversation should go to a human.

    Build one per process with :meth:`from_policy` and share it: it is thread-safe, and
    :meth:`session` hands out cheap per-conversation handles.

    Parameters
    ----------
    policy:
        A compiled :class:`~escalate.policy.Policy`.
    affect:
        The affect model, or ``None`` to run on dialogue signals alone.
    sessions:
        Where per-conversation state lives between turns (in memory by default).
    clock:
        Returns the current time; used for business hours when a turn has no timestamp.

    Examples
    --------
    >>> import escalate
    >>> engine = escalate.Engine.from_policy("dialogue_only", affect=None)
    >>> session = engine.session("conv-1", customer_id="cust-9")
    >>> session.observe(escalate.Turn(role="user", text="Where is my parcel?")).action
    'continue'
    >>> session.observe(escalate.Turn(role="user", text="Let me talk to a real person")).action
    'handoff'
    """

    def __init__(
        self,
        policy: Policy,
        *,
        affect: AffectModel | None = None,
        sessions: SessionStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        if policy.requires_affect and affect is None:
            raise PolicyError(
                [
                    _problem(
                        policy,
                        "the policy names affect signals but the engine has no affect model; "
                        "pass affect='default' (the shipped model) or use a dialogue-only policy",
                    )
                ]
            )
        self._compiled = _Compiled(policy, DialogueAnalyzer(policy.dialogue))
        self.affect = affect
        self.sessions: SessionStore = sessions if sessions is not None else MemorySessionStore()
        self._clock = clock or _utcnow
        # Striped locks: turns of one conversation are serialised, memory stays bounded.
        self._locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))
        self._reload_lock = threading.Lock()

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_policy(
        cls,
        policy: str | Path | Policy = "default",
        *,
        affect: AffectArg = "default",
        sessions: SessionStore | None = None,
        clock: Clock | None = None,
    ) -> Engine:
        """Load and compile a policy (a path, or the name of a shipped policy) and build an engine.

        ``affect="default"`` loads the shipped affect model; ``None`` runs without one, in
        which case a policy that names an affect signal is refused here, at load time.

        Raises
        ------
        PolicyError
            The policy is invalid; every problem is listed with its file and line.
        """
        model = _resolve_affect(affect)
        compiled = (
            policy if isinstance(policy, Policy) else load_policy(policy, affect=model is not None)
        )
        return cls(compiled, affect=model, sessions=sessions, clock=clock)

    # -- policy ---------------------------------------------------------------------------
    @property
    def policy(self) -> Policy:
        """The policy in force now."""
        return self._compiled.policy

    def reload(self, policy: str | Path | Policy | None = None) -> Policy:
        """Swap in a new policy without a restart; the swap is atomic.

        With no argument the current policy's file is read again. A turn being observed
        while the swap happens finishes under the policy it started with.

        Raises
        ------
        PolicyError
            The new policy is invalid; the old one stays in force.
        """
        with self._reload_lock:
            if isinstance(policy, Policy):
                new = policy
                if new.requires_affect and self.affect is None:
                    raise PolicyError(
                        [
                            _problem(
                                new,
                                "the policy names affect signals but the engine has no affect model",
                            )
                        ]
                    )
            else:
                target = policy if policy is not None else self.policy.source
                new = load_policy(target, affect=self.affect is not None)
            self._compiled = _Compiled(new, DialogueAnalyzer(new.dialogue))
            return new

    # -- sessions -------------------------------------------------------------------------
    def session(
        self, conversation_id: str, *, customer_id: str | None = None, channel: str = "chat"
    ) -> Session:
        """A handle on one conversation; its state lives in the engine's session store."""
        if not isinstance(conversation_id, str) or not conversation_id:
            raise InputError(
                f"must be a non-empty string, got {conversation_id!r}", field="conversation_id"
            )
        return Session(self, conversation_id, customer_id=customer_id, channel=channel)

    def _lock_for(self, conversation_id: str) -> threading.Lock:
        return self._locks[hash(conversation_id) % _LOCK_STRIPES]

    def decide(self, conversation: Conversation) -> list[Decision]:
        """Replay a whole conversation turn by turn; one decision per user turn.

        The conversation runs in a private session (nothing is written to the session
        store), and the affect model scores all its user messages in one batch. Each
        decision still sees only the turns up to its own.
        """
        return next(iter(self.decide_many([conversation])))[1]

    def decide_many(
        self, conversations: Iterable[Conversation], *, batch_size: int = 64
    ) -> Iterator[tuple[Conversation, list[Decision]]]:
        """:meth:`decide` over many conversations, lazily, in input order.

        The affect model scores the user messages of up to ``batch_size`` conversations in
        one call, which is much faster than one call per message.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        chunk: list[Conversation] = []
        for conversation in conversations:
            chunk.append(conversation)
            if len(chunk) >= batch_size:
                yield from self._decide_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._decide_chunk(chunk)

    def _decide_chunk(
        self, chunk: list[Conversation]
    ) -> Iterator[tuple[Conversation, list[Decision]]]:
        compiled = self._compiled
        texts = [t.text for c in chunk for t in c.turns if t.role == "user" and t.text]
        scores, error = self._score(texts)
        score_iter = iter(scores)
        for conversation in chunk:
            state = SessionState(
                conversation_id=conversation.id,
                customer_id=conversation.customer_id,
                channel=conversation.channel,
            )
            decisions: list[Decision] = []
            for turn in conversation.turns:
                has_text = turn.role == "user" and bool(turn.text)
                turn_scores = next(score_iter, None) if has_text else None
                state, decision = _step(compiled, state, turn, turn_scores, error, self._clock)
                if turn.role == "user":
                    decisions.append(decision)
            yield conversation, decisions

    def _score(self, texts: Sequence[str]) -> tuple[list[AffectScores], str | None]:
        if self.affect is None or not texts:
            return [], None
        try:
            scores = self.affect.predict(list(texts))
            if len(scores) != len(texts):
                raise ValueError(
                    f"the affect model returned {len(scores)} scores for {len(texts)} texts"
                )
            return scores, None
        except Exception as exc:  # a failing model must never crash the caller's bot
            return [], f"affect model: {type(exc).__name__}: {exc}"


class Session:
    """One conversation seen through an engine: feed it turns, get decisions.

    Sessions are cheap handles: all state lives in the engine's session store, so two
    handles on the same conversation id (in one process, or in several workers sharing a
    store) see the same conversation.

    Examples
    --------
    >>> import escalate
    >>> engine = escalate.Engine.from_policy("dialogue_only", affect=None)
    >>> session = engine.session("conv-7", customer_id="cust-1")
    >>> session.observe(escalate.Turn(role="user", text="I want to change my address")).action
    'continue'
    >>> len(engine.session("conv-7").state().turns)
    1
    """

    def __init__(
        self, engine: Engine, conversation_id: str, *, customer_id: str | None, channel: str
    ) -> None:
        self.engine = engine
        self.conversation_id = conversation_id
        self.customer_id = customer_id
        self.channel = channel

    def observe(self, turn: Turn | Mapping[str, Any]) -> Decision:
        """Record one turn and decide what to do now.

        Bot, agent and system turns are recorded and answered with ``continue``; the policy
        is evaluated on user turns. A failing model or store never raises: the decision
        follows the policy's ``on_error`` and names the failure in its reasons.

        Raises
        ------
        InputError
            ``turn`` is not a valid turn (the message names the field).
        """
        turn = _as_turn(turn)
        engine = self.engine
        compiled = engine._compiled
        scores: AffectScores | None = None
        error: str | None = None
        if turn.role == "user" and turn.text:
            batch, error = engine._score([turn.text])
            scores = batch[0] if batch else None
        with engine._lock_for(self.conversation_id):
            try:
                state = engine.sessions.load(self.conversation_id)
            except Exception as exc:
                state, store_error = None, f"session store: {type(exc).__name__}: {exc}"
                error = f"{error}; {store_error}" if error else store_error
            if state is None:
                state = SessionState(
                    conversation_id=self.conversation_id,
                    customer_id=self.customer_id,
                    channel=self.channel,
                )
            state, decision = _step(compiled, state, turn, scores, error, engine._clock)
            try:
                engine.sessions.save(state)
            except Exception as exc:
                if turn.role == "user" and decision.guard != "on_error":
                    decision = _on_error(
                        compiled.policy, decision, f"session store: {type(exc).__name__}: {exc}"
                    )
        return decision

    async def aobserve(self, turn: Turn | Mapping[str, Any]) -> Decision:
        """:meth:`observe` for asyncio backends: inference runs in a worker thread, so the
        event loop is never blocked."""
        return await asyncio.to_thread(self.observe, turn)

    def state(self) -> SessionState | None:
        """The saved state of this conversation, or ``None`` before its first turn."""
        return self.engine.sessions.load(self.conversation_id)

    def end(self) -> None:
        """Forget this conversation's state."""
        self.engine.sessions.delete(self.conversation_id)


# ---------------------------------------------------------------------------------------
# One step: pure apart from the clock
# ---------------------------------------------------------------------------------------


def _problem(policy: Policy, message: str) -> PolicyProblem:
    return PolicyProblem(str(policy.source), None, (), message)


def _step(
    compiled: _Compiled,
    state: SessionState,
    turn: Turn,
    scores: AffectScores | None,
    error: str | None,
    clock: Clock,
) -> tuple[SessionState, Decision]:
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
        packet = HandoffPacket(
            conversation_id=state.conversation_id,
            customer_id=state.customer_id,
            channel=state.channel,
            created_at=turn.timestamp or clock(),
            rule=rule,
            queue=queue,
            priority=priority,
            reasons=reasons,
            transcript=list(update["turns"]),
            signals=values,
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


def _on_error(policy: Policy, decision: Decision, error: str) -> Decision:
    """Replace a decision by the policy's ``on_error`` action after a late failure."""
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


def _resolve_affect(affect: AffectArg) -> AffectModel | None:
    if affect is None:
        return None
    if affect == "default":
        from escalate.affect import default_model

        return default_model()
    if isinstance(affect, AffectModel):
        return affect
    raise EscalateError(
        f"affect must be an AffectModel, 'default' or None, got {type(affect).__name__}"
    )
