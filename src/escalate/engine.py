"""The engine: a compiled policy, an affect model and stores; sessions observe turns.

A decision at turn *t* only ever sees turns up to *t*: :meth:`Session.observe` is the one
path by which turns enter, and :meth:`Engine.decide` (and replay) drive that same path.

Stores
------
Session state lives in a :class:`~escalate.stores.session.SessionStore` (in memory, or
Redis shared by every worker); each turn is saved with a compare-and-set on the state's
version, and a turn that lost a race with another worker runs again on the newer state,
so no turn is ever lost. Contact history lives in a
:class:`~escalate.stores.history.HistoryStore`: read when a conversation starts (and
when its topic becomes known) for the ``history.*`` signals, written when a conversation
is handed off, resolved or ended. A write that fails waits in a bounded in-process queue
and is retried with the next write (or :meth:`Engine.flush_history`); a read that fails
makes that turn follow the policy's ``on_error`` and the next user turn tries again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from escalate.affect.base import AffectModel, AffectScores, affect_signals
from escalate.affect.embedding import (
    HashingEmbedder,
    TextEmbedder,
    can_embed,
    topic_similarity_for,
)
from escalate.errors import EscalateError, InputError, PolicyError, PolicyProblem
from escalate.models import (
    ACTION_STRENGTH,
    MAX_TEXT_CHARS,
    Action,
    ContactRecord,
    Conversation,
    Decision,
    HandoffPacket,
    Outcome,
    Priority,
    Reason,
    Signals,
    Turn,
)
from escalate.packet import build_packet
from escalate.policy import Policy, load_policy
from escalate.signals.catalog import CATALOG, requires_history
from escalate.signals.dialogue import DialogueAnalyzer
from escalate.signals.history import (
    MAX_TOPIC_TEXT,
    HistoryLookup,
    customer_signals,
    topic_of,
    unknown_history,
)
from escalate.signals.trajectory import extend_series, trajectory_signals
from escalate.stores.history import HistoryStore, open_history_store
from escalate.stores.session import (
    MemorySessionStore,
    SessionState,
    SessionStore,
    open_session_store,
)

__all__ = ["DEFAULT_HISTORY_URL", "HISTORY_URL_ENV", "Engine", "Session"]

_log = logging.getLogger("escalate")

#: The environment variable naming the history store when ``from_policy`` is given none.
HISTORY_URL_ENV = "ESCALATE_HISTORY_URL"
#: The history store of an engine built with no configuration: a SQLite file in the
#: working directory, created when the first contact is recorded.
DEFAULT_HISTORY_URL = "sqlite:///escalate-history.db"
#: How many times a turn is run again when another worker saved the conversation first.
_MAX_ATTEMPTS = 64
#: How long history reads are skipped after one failed, so a dead store costs one timeout.
_HISTORY_RETRY_SECONDS = 5.0
#: Contacts kept in memory while the history store cannot take them.
_MAX_PENDING_CONTACTS = 10_000

#: Locks shared out among conversations; more stripes, fewer unrelated waits.
_LOCK_STRIPES = 256

AffectArg = AffectModel | Literal["default"] | None
HistoryArg = HistoryStore | str | None
SessionsArg = SessionStore | str | None
Clock = Any  # a zero-argument callable returning an aware datetime


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A policy with everything derived from it; swapped as one reference on reload."""

    policy: Policy
    analyzer: DialogueAnalyzer
    #: History and customer signals the policy reads; unknown unless computed.
    optional_names: frozenset[str]
    requires_history: bool


def _compile(policy: Policy) -> _Compiled:
    optional = frozenset(
        n
        for n in policy.signal_names
        if n in CATALOG and CATALOG[n].source in ("history", "customer")
    )
    return _Compiled(
        policy,
        DialogueAnalyzer(policy.dialogue),
        optional,
        any(requires_history(n) for n in policy.signal_names),
    )


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
    history:
        Where earlier contacts are kept, for the ``history.*`` signals and the outcomes
        written back; ``None`` for none (a policy that names a history signal is then
        refused).
    embedder:
        Compares texts to find an earlier contact on the same problem when a
        conversation has no intent; by default the affect model when it can embed, else
        a :class:`~escalate.affect.embedding.HashingEmbedder`.
    topic_similarity:
        Cosine similarity from which two texts are the same problem; by default 0.3 for
        the hashing embedder and the model's own figure for a model (see
        :func:`~escalate.affect.embedding.topic_similarity_for`).
    clock:
        Returns the current time; used for business hours when a turn has no timestamp.

    Examples
    --------
    >>> import escalate
    >>> engine = escalate.Engine.from_policy("dialogue_only", affect=None, history="memory://")
    >>> session = engine.session("conv-1", customer_id="cust-9")
    >>> session.observe(escalate.Turn(role="user", text="Where is my parcel?")).action
    'continue'
    >>> session.observe(escalate.Turn(role="user", text="Let me talk to a real person")).action
    'handoff'
    >>> engine.history.get("conv-1").outcome          # the handoff is in the contact history
    'handed_off'
    """

    def __init__(
        self,
        policy: Policy,
        *,
        affect: AffectModel | None = None,
        sessions: SessionStore | None = None,
        history: HistoryStore | None = None,
        embedder: TextEmbedder | None = None,
        topic_similarity: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        _check_history(policy, history)
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
        self._compiled = _compile(policy)
        self.affect = affect
        self.sessions: SessionStore = sessions if sessions is not None else MemorySessionStore()
        self.history = history
        if embedder is None:
            embedder = affect if can_embed(affect) else HashingEmbedder()
        self.embedder: TextEmbedder = embedder
        if topic_similarity is None:
            topic_similarity = topic_similarity_for(embedder)
        self.topic_similarity = topic_similarity
        self._outbox = _Outbox(history, _MAX_PENDING_CONTACTS)
        self._history_retry_at = 0.0
        self._history_last_error = ""
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
        sessions: SessionsArg = None,
        history: HistoryArg = "default",
        embedder: TextEmbedder | None = None,
        clock: Clock | None = None,
    ) -> Engine:
        """Load and compile a policy (a path, or the name of a shipped policy) and build an engine.

        ``affect="default"`` loads the shipped affect model; ``None`` runs without one, in
        which case a policy that names an affect signal is refused here, at load time.

        ``sessions`` is a :class:`~escalate.stores.session.SessionStore` or a URL
        (``memory://``, ``redis://host:6379/0``); when ``None`` it comes from the
        ``ESCALATE_SESSION_URL`` environment variable, else sessions stay in memory.

        ``history`` is a :class:`~escalate.stores.history.HistoryStore`, a URL
        (``sqlite:///history.db``, ``postgresql+psycopg://user@host/db``, ``memory://``),
        ``"default"`` or ``None`` (no history: a policy naming ``history.*`` is refused).
        ``"default"`` reads ``ESCALATE_HISTORY_URL`` (where ``none`` means no history),
        else uses :data:`DEFAULT_HISTORY_URL`. Nothing connects until first use, so
        building an engine stays fast.

        Raises
        ------
        PolicyError
            The policy is invalid; every problem is listed with its file and line.
        """
        model = _resolve_affect(affect)
        store = _resolve_history(history)
        compiled = (
            policy
            if isinstance(policy, Policy)
            else load_policy(policy, affect=model is not None, history=store is not None)
        )
        session_store = (
            sessions
            if sessions is not None and not isinstance(sessions, str)
            else open_session_store(sessions)
        )
        return cls(
            compiled,
            affect=model,
            sessions=session_store,
            history=store,
            embedder=embedder,
            clock=clock,
        )

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
                _check_history(new, self.history)
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
                new = load_policy(
                    target, affect=self.affect is not None, history=self.history is not None
                )
            self._compiled = _compile(new)
            return new

    # -- sessions -------------------------------------------------------------------------
    def session(
        self,
        conversation_id: str,
        *,
        customer_id: str | None = None,
        channel: str = "chat",
        customer: Mapping[str, float | bool | None] | None = None,
    ) -> Session:
        """A handle on one conversation; its state lives in the engine's session store.

        ``customer`` gives attributes of the customer as ``customer.*`` signals (numbers,
        or true/false for 1/0): ``{"tier": 2, "vulnerable": True}``. They are taken when
        the conversation's first turn is observed.

        Raises
        ------
        InputError
            An empty conversation id, or an unknown or non-numeric customer attribute.
        """
        if not isinstance(conversation_id, str) or not conversation_id:
            raise InputError(
                f"must be a non-empty string, got {conversation_id!r}", field="conversation_id"
            )
        attributes = customer_signals(customer)
        return Session(
            self, conversation_id, customer_id=customer_id, channel=channel, customer=attributes
        )

    # -- history --------------------------------------------------------------------------
    def _lookup(self) -> HistoryLookup | None:
        if self.history is None:
            return None
        return HistoryLookup(_GuardedHistory(self), self.embedder, self.topic_similarity)

    def _record(self, contact: ContactRecord | None) -> None:
        """Write a contact back; a failure leaves it queued for the next write."""
        if contact is None or self.history is None:
            return
        error = self._outbox.put(contact)
        if error is not None:
            _log.warning("history store: contact %s queued: %s", contact.conversation_id, error)

    def flush_history(self) -> int:
        """Write every contact still waiting after a failed write; returns how many wait on.

        Contacts wait in memory (at most 10,000, the oldest dropped first with a warning)
        while the history store is down; every later write, and this method, retries them.
        """
        error = self._outbox.flush()
        if error is not None:
            _log.warning("history store: %d contacts still queued: %s", len(self._outbox), error)
        return len(self._outbox)

    @property
    def pending_contacts(self) -> int:
        """Contacts waiting to be written to the history store."""
        return len(self._outbox)

    def close(self) -> None:
        """Write queued contacts and close the stores' connections."""
        self.flush_history()
        for store in (self.history, self.sessions):
            closer = getattr(store, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception as exc:  # closing must not raise at shutdown
                    _log.warning("closing %r failed: %s", store, exc)

    def _lock_for(self, conversation_id: str) -> threading.Lock:
        return self._locks[hash(conversation_id) % _LOCK_STRIPES]

    def decide(
        self,
        conversation: Conversation,
        *,
        history: HistoryStore | None = None,
        record: bool = False,
    ) -> list[Decision]:
        """Replay a whole conversation turn by turn; one decision per user turn.

        The conversation runs in a private session (nothing is written to the session
        store), and the affect model receives all its user messages in one call. Each
        decision still sees only the turns up to its own.

        History signals come from ``history`` (a store the caller filled), or from an
        empty history when it is ``None``; the engine's own history store is never read
        or written here. With ``record=True`` each conversation is recorded in
        ``history`` after it is decided, so later conversations of the same customer see
        it (replaying an archive in time order): as ``handed_off`` when the policy handed
        it off, else as its ``metadata["outcome"]``, else as ``resolved``. Customer
        attributes come from ``metadata["customer"]`` (invalid ones are logged and
        ignored).
        """
        return next(iter(self.decide_many([conversation], history=history, record=record)))[1]

    def decide_many(
        self,
        conversations: Iterable[Conversation],
        *,
        batch_size: int = 64,
        history: HistoryStore | None = None,
        record: bool = False,
    ) -> Iterator[tuple[Conversation, list[Decision]]]:
        """:meth:`decide` over many conversations, lazily, in input order.

        The affect model receives the user messages of up to ``batch_size`` conversations
        in one call, so a model that batches can. (The shipped model scores each text on
        its own, so that no text's score depends on another's.)
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if record and history is None:
            raise ValueError("record=True needs a history store to record in")
        chunk: list[Conversation] = []
        for conversation in conversations:
            chunk.append(conversation)
            if len(chunk) >= batch_size:
                yield from self._decide_chunk(chunk, history, record)
                chunk = []
        if chunk:
            yield from self._decide_chunk(chunk, history, record)

    def _decide_chunk(
        self, chunk: list[Conversation], history: HistoryStore | None, record: bool
    ) -> Iterator[tuple[Conversation, list[Decision]]]:
        compiled = self._compiled
        texts = [t.text for c in chunk for t in c.turns if t.role == "user" and t.text]
        scores, error = self._score(texts)
        score_iter = iter(scores)
        lookup = HistoryLookup(history, self.embedder, self.topic_similarity)
        for conversation in chunk:
            attributes = conversation.metadata.get("customer")
            try:
                customer = customer_signals(attributes if isinstance(attributes, Mapping) else None)
            except InputError as exc:  # one bad record must not stop a replay
                _log.warning("conversation %s: metadata.customer ignored: %s", conversation.id, exc)
                customer = {}
            state = SessionState(
                conversation_id=conversation.id,
                customer_id=conversation.customer_id,
                channel=conversation.channel,
                customer=customer,
            )
            decisions: list[Decision] = []
            for turn in conversation.turns:
                has_text = turn.role == "user" and bool(turn.text)
                turn_scores = next(score_iter, None) if has_text else None
                now = turn.timestamp or self._clock()
                state, history_error = _prepare(compiled, state, turn, now, lookup)
                turn_error = _join(error, history_error if compiled.requires_history else None)
                state, decision = _step(
                    compiled,
                    state,
                    turn,
                    turn_scores,
                    turn_error,
                    self._clock,
                    lookup,
                    self.embedder,
                )
                if turn.role == "user":
                    decisions.append(decision)
            if record and history is not None:
                given = conversation.metadata.get("outcome")
                outcome: Outcome = "resolved"
                if state.handed_off:
                    outcome = "handed_off"
                elif given in ("resolved", "handed_off", "abandoned"):
                    outcome = given
                last = conversation.turns[-1].timestamp or self._clock()
                contact = _contact(state, outcome, last)
                if contact is not None:
                    history.record(contact)
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
    >>> from escalate.stores.history import MemoryHistoryStore
    >>> engine = escalate.Engine(escalate.load_policy("dialogue_only", affect=False),
    ...                          history=MemoryHistoryStore())
    >>> session = engine.session("c1", customer_id="u1")
    >>> session.observe(escalate.Turn(role="user", text="My card was charged twice")).action
    'continue'
    >>> session.end(outcome="resolved")
    >>> engine.history.get("c1").outcome
    'resolved'
    """

    def __init__(
        self,
        engine: Engine,
        conversation_id: str,
        *,
        customer_id: str | None,
        channel: str,
        customer: Mapping[str, float] | None = None,
    ) -> None:
        self.engine = engine
        self.conversation_id = conversation_id
        self.customer_id = customer_id
        self.channel = channel
        self.customer: dict[str, float] = dict(customer or {})

    def _new_state(self, now: datetime) -> SessionState:
        return SessionState(
            conversation_id=self.conversation_id,
            customer_id=self.customer_id,
            channel=self.channel,
            started_at=now,
            customer=self.customer,
        )

    def observe(self, turn: Turn | Mapping[str, Any]) -> Decision:
        """Record one turn and decide what to do now.

        Bot, agent and system turns are recorded and answered with ``continue``; the policy
        is evaluated on user turns. A failing model or store never raises: the decision
        follows the policy's ``on_error`` and names the failure in its reasons.

        The turn is saved with a compare-and-set on the state's version; when another
        worker saved a turn of this conversation first, this turn runs again on the newer
        state. A handoff is written to the history store as the outcome ``handed_off``.

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
        now = turn.timestamp or engine._clock()
        lookup = engine._lookup()
        decision: Decision | None = None
        final: SessionState | None = None
        for attempt in range(_MAX_ATTEMPTS):
            with engine._lock_for(self.conversation_id):
                turn_error = error
                compare = True
                try:
                    loaded = engine.sessions.load(self.conversation_id)
                except Exception as exc:
                    loaded, compare = None, False
                    turn_error = _join(turn_error, f"session store: {type(exc).__name__}: {exc}")
                state = loaded if loaded is not None else self._new_state(now)
                state, history_error = _prepare(compiled, state, turn, now, lookup)
                if compiled.requires_history:
                    turn_error = _join(turn_error, history_error)
                state, decision = _step(
                    compiled,
                    state,
                    turn,
                    scores,
                    turn_error,
                    engine._clock,
                    lookup,
                    engine.embedder,
                )
                final = state
                try:
                    if compare:
                        expected = loaded.version if loaded is not None else 0
                        done = _save_if(engine.sessions, state, expected)
                    else:
                        engine.sessions.save(state)
                        done = True
                except Exception as exc:
                    done = True
                    if turn.role == "user" and decision.guard != "on_error":
                        decision = _on_error(
                            compiled.policy, decision, f"session store: {type(exc).__name__}: {exc}"
                        )
            if done:
                break
            # another worker saved this conversation first: back off a little, run again
            time.sleep(random.uniform(0.0, min(0.05, 0.0005 * 2**attempt)))
        else:
            decision = _on_error(
                compiled.policy,
                decision,  # type: ignore[arg-type]
                f"session store: conversation updated by other workers {_MAX_ATTEMPTS} times "
                "in a row; this turn was not saved",
            )
        assert decision is not None
        if final is not None and decision.action == "handoff":
            # recorded even when the session store failed: the handoff did happen
            engine._record(_contact(final, "handed_off", now))
        return decision

    async def aobserve(self, turn: Turn | Mapping[str, Any]) -> Decision:
        """:meth:`observe` for asyncio backends: inference runs in a worker thread, so the
        event loop is never blocked."""
        return await asyncio.to_thread(self.observe, turn)

    def state(self) -> SessionState | None:
        """The saved state of this conversation, or ``None`` before its first turn."""
        return self.engine.sessions.load(self.conversation_id)

    def resolve(self) -> None:
        """Record that the bot resolved this conversation (it may go on; the outcome is
        updated if it later ends otherwise). Store failures are logged, never raised;
        a contact the history store cannot take now is queued and written later."""
        state = self._set_outcome("resolved")
        if state is not None:
            self.engine._record(_contact(state, "resolved", self.engine._clock()))

    def end(self, outcome: Outcome | None = None) -> None:
        """End this conversation: record it in the history and forget its state.

        ``outcome`` is how it ended (``resolved``, ``handed_off`` or ``abandoned``); when
        not given, the outcome recorded so far is kept (``handed_off`` after a handoff,
        ``resolved`` after :meth:`resolve`), else the conversation counts as ``abandoned``.
        A conversation without a customer id, or never observed, is not recorded. Store
        failures are logged, never raised.
        """
        if outcome is not None and outcome not in ("resolved", "handed_off", "abandoned"):
            raise InputError(
                f"must be 'resolved', 'handed_off' or 'abandoned', got {outcome!r}",
                field="outcome",
            )
        engine = self.engine
        try:
            state = engine.sessions.load(self.conversation_id)
        except Exception as exc:
            _log.warning("session store: cannot load %s to end it: %s", self.conversation_id, exc)
            state = None
        if state is not None and state.turns:
            final: Outcome = outcome or state.outcome or "abandoned"
            engine._record(_contact(state, final, engine._clock()))
        try:
            engine.sessions.delete(self.conversation_id)
        except Exception as exc:
            _log.warning("session store: cannot delete %s: %s", self.conversation_id, exc)

    def _set_outcome(self, outcome: Outcome) -> SessionState | None:
        engine = self.engine
        for _ in range(_MAX_ATTEMPTS):
            try:
                state = engine.sessions.load(self.conversation_id)
                if state is None or not state.turns:
                    return None
                updated = state.model_copy(update={"outcome": outcome})
                if _save_if(engine.sessions, updated, state.version):
                    return updated
            except Exception as exc:
                _log.warning(
                    "session store: cannot record the outcome of %s: %s", self.conversation_id, exc
                )
                return None
        return None


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
    lookup: HistoryLookup | None = None,
    embedder: TextEmbedder | None = None,
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


#: How far back the packet looks for the customer's earlier contacts.
_PACKET_HISTORY = timedelta(days=30)


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


def _join(first: str | None, second: str | None) -> str | None:
    if first and second:
        return f"{first}; {second}"
    return first or second


def _save_if(store: SessionStore, state: SessionState, expected: int) -> bool:
    """Compare-and-set when the store can; a plain save for stores that cannot."""
    save_if = getattr(store, "save_if", None)
    if save_if is None:
        store.save(state)
        return True
    return bool(save_if(state, expected))


def _prepare(
    compiled: _Compiled,
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


def _contact(state: SessionState, outcome: Outcome, now: datetime) -> ContactRecord | None:
    """The history record of a conversation, or ``None`` without a customer id."""
    if state.customer_id is None:
        return None
    sentiment: float | None = None
    for scores in reversed(state.user_affect):
        if scores is not None:
            positive = scores.sentiment.get("positive", 0.0)
            negative = scores.sentiment.get("negative", 0.0)
            sentiment = max(-1.0, min(1.0, positive - negative))
            break
    text = state.topic_text
    if text is None:
        text = next((t.text for t in state.turns if t.role == "user" and t.text), None)
    started = state.started_at or next((t.timestamp for t in state.turns if t.timestamp), now)
    return ContactRecord(
        customer_id=state.customer_id,
        conversation_id=state.conversation_id,
        started_at=started,
        ended_at=max(now, started),
        channel=state.channel,
        topic=state.topic,
        outcome=outcome,
        final_sentiment=sentiment,
        text=text[:MAX_TEXT_CHARS] if text else None,
    )


class _Outbox:
    """Contacts not yet written to the history store, newest per conversation, bounded."""

    def __init__(self, store: HistoryStore | None, capacity: int) -> None:
        self.store = store
        self.capacity = capacity
        self._pending: OrderedDict[str, ContactRecord] = OrderedDict()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def pending_for(self, customer_id: str) -> list[ContactRecord]:
        with self._lock:
            return [c for c in self._pending.values() if c.customer_id == customer_id]

    def put(self, contact: ContactRecord) -> str | None:
        with self._lock:
            self._pending[contact.conversation_id] = contact
            self._pending.move_to_end(contact.conversation_id)
            while len(self._pending) > self.capacity:
                dropped, _ = self._pending.popitem(last=False)
                _log.error("history store: queue full, contact %s dropped", dropped)
        return self.flush()

    def flush(self) -> str | None:
        """Write what waits; the error text when the store failed (all stays queued)."""
        if self.store is None:
            return None
        with self._flush_lock:
            with self._lock:
                batch = list(self._pending.values())
            if not batch:
                return None
            try:
                self.store.record_many(batch)
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"
            with self._lock:
                for contact in batch:
                    if self._pending.get(contact.conversation_id) is contact:
                        del self._pending[contact.conversation_id]
            return None


class _GuardedHistory:
    """The engine's history store as the history lookup sees it: contacts still queued
    for writing count too, and after a failure reads are skipped for a few seconds, so
    a store that is down costs one timeout rather than one per turn."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        assert engine.history is not None
        self._store: HistoryStore = engine.history

    def _call(self, read: Any) -> Any:
        engine = self._engine
        if time.monotonic() < engine._history_retry_at:
            raise EscalateError(f"unavailable, retrying shortly ({engine._history_last_error})")
        try:
            return read()
        except Exception as exc:
            if _is_outage(exc):
                engine._history_retry_at = time.monotonic() + _HISTORY_RETRY_SECONDS
                engine._history_last_error = f"{type(exc).__name__}: {exc}"
            raise

    def recent(
        self, customer_id: str, *, since: datetime, until: datetime, limit: int = 500
    ) -> list[ContactRecord]:
        found: list[ContactRecord] = self._call(
            lambda: self._store.recent(customer_id, since=since, until=until, limit=limit)
        )
        queued = self._engine._outbox.pending_for(customer_id)
        if queued:
            ids = {c.conversation_id for c in queued}
            found = [c for c in found if c.conversation_id not in ids] + queued
        return found

    def last_contact_at(self, customer_id: str, *, before: datetime) -> datetime | None:
        found: datetime | None = self._call(
            lambda: self._store.last_contact_at(customer_id, before=before)
        )
        return found

    def record(self, contact: ContactRecord) -> None:
        self._store.record(contact)

    def record_many(self, contacts: Iterable[ContactRecord]) -> int:
        return self._store.record_many(contacts)

    def get(self, conversation_id: str) -> ContactRecord | None:
        return self._store.get(conversation_id)

    def close(self) -> None:
        return None


def _is_outage(exc: BaseException) -> bool:
    """A store that cannot be reached or is too slow, as opposed to one bad record."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError | TimeoutError):  # ConnectionError is an OSError
            return True
        name = type(seen).__name__
        if name in ("OperationalError", "InterfaceError", "TimeoutError", "ConnectionError"):
            return True
        seen = seen.__cause__
    return False


def _check_history(policy: Policy, history: HistoryStore | None) -> None:
    if history is None and any(requires_history(n) for n in policy.signal_names):
        raise PolicyError(
            [
                _problem(
                    policy,
                    "the policy names history signals but the engine has no history store; "
                    "pass history='sqlite:///history.db' (or another URL or store) or use "
                    "a policy without history.* conditions",
                )
            ]
        )


def _resolve_history(history: HistoryArg) -> HistoryStore | None:
    if history is None:
        return None
    if isinstance(history, str):
        if history == "default":
            history = os.environ.get(HISTORY_URL_ENV) or DEFAULT_HISTORY_URL
            if history.strip().lower() == "none":
                return None
        return open_history_store(history)
    if isinstance(history, HistoryStore):
        return history
    raise EscalateError(
        f"history must be a HistoryStore, a URL, 'default' or None, got {type(history).__name__}"
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
