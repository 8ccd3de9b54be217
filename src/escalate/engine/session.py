"""A handle on one live conversation: turns go in, decisions come out.

Each turn loads the conversation's state from the session store, takes one
:func:`~escalate.engine.step.step` and saves the new state with a compare-and-set on its
version; a turn that lost a race with another worker runs again on the newer state, so no
turn is ever lost. A turn the store cannot take (it is down, or the save fails) waits in
the engine's queue of unsaved turns (:mod:`escalate.engine.pending`) and is applied,
in order and once, before the conversation's next turn or on :meth:`Session.flush`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import random
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import ValidationError

from escalate.affect.base import AffectScores, MessageContext
from escalate.engine.history import contact_record, is_outage
from escalate.engine.pending import PendingTurn, new_turn_id
from escalate.engine.runtime import Runtime
from escalate.engine.state import APPLIED_KEPT, SessionState, text_key
from escalate.engine.step import (
    late_failure,
    message_context,
    prepare,
    session_failure,
    step,
)
from escalate.errors import InputError
from escalate.models import ContactRecord, Decision, Failure, Outcome, Turn
from escalate.policy.decide import Memory, Verdict
from escalate.signals.history import HistoryLookup

__all__ = ["Session"]

_log = logging.getLogger("escalate")

#: How many times a turn is run again when another worker saved the conversation first.
MAX_ATTEMPTS = 64


def _as_turn(turn: Turn | Mapping[str, Any]) -> Turn:
    if isinstance(turn, Turn):
        return turn
    if not isinstance(turn, Mapping):
        raise InputError(
            f"must be a Turn or a mapping of its fields, got {type(turn).__name__}", field="turn"
        )
    try:
        return Turn.model_validate(turn)
    except ValidationError as exc:
        raise InputError.from_validation(exc) from None


class _Read(NamedTuple):
    """The context of the next customer message and the saved state it was read from
    (``readable`` is false when the store could not be read)."""

    context: MessageContext | None
    state: SessionState | None
    readable: bool


class Session:
    """One conversation seen through an engine: feed it turns, get decisions.

    Sessions are cheap handles: all state lives in the engine's session store, so two
    handles on the same conversation id (in one process, or in several workers sharing a
    store) see the same conversation. Get one from :meth:`Engine.session
    <escalate.engine.Engine.session>`.

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
        runtime: Runtime,
        conversation_id: str,
        *,
        customer_id: str | None,
        channel: str,
        customer: Mapping[str, float] | None = None,
    ) -> None:
        self._runtime = runtime
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

        The policy is evaluated on user turns, and on bot turns when it decides on them
        (``decide_on: [user, bot]``: observe the bot's message before sending it, and
        hand over instead when the decision says so); other turns are recorded and
        answered with ``continue``. A customer message is scored with the messages before
        it when the affect model reads context; a bot message is handed to the model as
        it is observed, so that the customer's reply finds it encoded. A turn with an
        empty text (an attachment, a sticker) is recorded but not scored. A failing model or store never raises: the decision
        follows the policy's ``on_error`` and names the failure in its reasons.

        The turn is saved with a compare-and-set on the state's version; when another
        worker saved a turn of this conversation first, this turn runs again on the newer
        state. When the saved state could not be read because the store is down, the
        turn is not saved (saving a fresh state over one that could not be read would
        lose every earlier turn); an unreadable saved state is replaced. A handoff is
        written to the history store as the outcome ``handed_off``.

        A turn that is not saved (the store is down, or the save failed) is kept in the
        engine's bounded queue of unsaved turns, with the decision it was answered. The
        conversation's next turn (or :meth:`flush`) applies the waiting turns first, in
        the order they were observed, then itself, and saves them together; the state
        remembers what the caller was answered (a handoff stays a handoff). A turn is
        never applied twice: the state keeps the ids of its latest turns.

        Raises
        ------
        InputError
            ``turn`` is not a valid turn (the message names the field).
        """
        turn = _as_turn(turn)
        runtime = self._runtime
        compiled = runtime.compiled
        scores: AffectScores | None = None
        affect_failed: Failure | None = None
        context: MessageContext | None = None
        encoding: bytes | None = None
        scored = turn.role == "user" and turn.has_text
        # The state read before inference is the first try's state: the compare-and-set
        # on its version catches a turn another worker saved since (the turn then runs
        # again on a state read anew), so one read of the store serves both.
        read: _Read | None = None
        if scored:
            # Inference runs outside the conversation's lock; the context it read is
            # checked again against the state the turn is saved on.
            if runtime.reads_context:
                read = self._read_context()
                context = read.context
            scores, encoding, affect_failed = runtime.score_one(turn.text or "", context)
        elif turn.role == "bot" and turn.has_text:
            if runtime.reads_context:
                read = self._read_context()
            # a bot message before the customer's first message is never context
            # (message_context): it is not encoded
            if read is None or read.context is None or read.context.user:
                encoding = runtime.encode(turn.text or "")
        now = turn.timestamp or runtime.clock()
        lookup = runtime.lookup()
        sessions = runtime.sessions
        pending = runtime.pending
        turn_id = new_turn_id()
        decision: Decision | None = None
        final: SessionState | None = None
        for attempt in range(MAX_ATTEMPTS):
            with runtime.lock_for(self.conversation_id):
                failures = [affect_failed] if affect_failed is not None else []
                queued = pending.turns(self.conversation_id)
                load_failure: Exception | None = None
                try:
                    if attempt == 0 and read is not None and read.readable:
                        loaded = read.state
                    else:
                        loaded = sessions.load(self.conversation_id)
                except Exception as exc:
                    loaded, load_failure = None, exc
                    failures.append(session_failure(f"session store: {type(exc).__name__}: {exc}"))
                state = loaded if loaded is not None else self._new_state(_started(queued, now))
                waiting = _unapplied(state, queued)
                if load_failure is None and len(waiting) < len(queued):
                    # saved by a write that reported a failure: already in the state
                    pending.remove(self.conversation_id, queued[: len(queued) - len(waiting)])
                state = self._catch_up(state, waiting, lookup)
                if scored and runtime.reads_context and load_failure is None:
                    current = message_context(state.turns)
                    if current != context:  # another worker added a turn meanwhile
                        context = with_encodings(current, state)
                        scores, encoding, affect_failed = runtime.score_one(
                            turn.text or "", context
                        )
                        failures = [affect_failed] if affect_failed is not None else []
                state, history_failed = prepare(compiled, state, turn, now, lookup)
                if history_failed is not None:
                    failures.append(history_failed)
                state, decision = step(
                    compiled, state, turn, scores, failures, now, lookup, runtime.embedder
                )
                state = _mark(remember_encoding(state, turn, encoding), turn_id)
                final = state
                saved = False
                try:
                    if load_failure is None:
                        expected = loaded.version if loaded is not None else 0
                        saved = done = sessions.save_if(state, expected)
                    else:
                        done = True
                        if not is_outage(load_failure):
                            sessions.save(state)  # the saved state was unreadable: replace it
                            saved = True
                except Exception as exc:
                    done = True
                    if turn.role == "user" and decision.guard != "on_error":
                        decision = late_failure(
                            compiled.policy, decision, f"session store: {type(exc).__name__}: {exc}"
                        )
                if saved:
                    pending.remove(self.conversation_id, waiting)
                elif done:
                    self._wait(turn_id, turn, now, decision, scores, affect_failed)
            if done:
                break
            # another worker saved this conversation first: back off a little, run again
            time.sleep(random.uniform(0.0, min(0.05, 0.0005 * 2**attempt)))
        else:
            assert decision is not None
            decision = late_failure(
                compiled.policy,
                decision,
                f"session store: conversation updated by other workers {MAX_ATTEMPTS} times "
                "in a row; this turn waits to be saved",
            )
            with runtime.lock_for(self.conversation_id):
                self._wait(turn_id, turn, now, decision, scores, affect_failed)
        assert decision is not None
        if final is not None and decision.action == "handoff":
            # recorded even when the session store failed: the handoff did happen
            self._record(contact_record(final, "handed_off", runtime.clock))
        return decision

    def _wait(
        self,
        turn_id: str,
        turn: Turn,
        at: datetime,
        answered: Decision,
        scores: AffectScores | None,
        affect_failed: Failure | None,
    ) -> None:
        """Queue a turn the store did not take, with what it was answered."""
        self._runtime.pending.add(
            self.conversation_id,
            PendingTurn(
                turn_id,
                turn,
                at,
                answered,
                scores=scores,
                affect_failed=affect_failed,
                customer_id=self.customer_id,
                channel=self.channel,
                customer=self.customer,
            ),
        )

    def _catch_up(
        self, state: SessionState, waiting: list[PendingTurn], lookup: HistoryLookup | None
    ) -> SessionState:
        """``state`` with the turns that waited applied, in order; each keeps the decision
        the caller was answered, so the guards remember what the customer was offered."""
        runtime = self._runtime
        compiled = runtime.compiled
        for pending in waiting:
            before = state
            state, _ = prepare(compiled, state, pending.turn, pending.at, lookup)
            failures = [pending.affect_failed] if pending.affect_failed is not None else []
            state, _ = step(
                compiled,
                state,
                pending.turn,
                pending.scores,
                failures,
                pending.at,
                lookup,
                runtime.embedder,
            )
            state = _mark(_as_answered(before, state, pending.answered), pending.id)
        return state

    @property
    def pending(self) -> int:
        """Turns of this conversation waiting in memory for the session store."""
        return len(self._runtime.pending.turns(self.conversation_id))

    def flush(self) -> int:
        """Apply this conversation's turns that wait for the session store, in the order
        they were observed; returns how many still wait (0 once they are saved).

        Never raises: a store that still fails is logged and the turns keep waiting.
        """
        return self._flush()[0]

    def _flush(self) -> tuple[int, bool]:
        """:meth:`flush`; also whether it stopped because the store is down."""
        runtime = self._runtime
        pending = runtime.pending
        cid = self.conversation_id
        if not pending.has(cid):
            return 0, False
        sessions = runtime.sessions
        lookup = runtime.lookup()
        for attempt in range(MAX_ATTEMPTS):
            with runtime.lock_for(cid):
                queued = pending.turns(cid)
                if not queued:
                    return 0, False
                replace = False
                try:
                    loaded = sessions.load(cid)
                except Exception as exc:
                    if is_outage(exc):
                        _log.warning(
                            "session store: %d turns of %s still wait: %s", len(queued), cid, exc
                        )
                        return len(queued), True
                    loaded, replace = None, True  # unreadable: replaced, as a turn would
                state = loaded if loaded is not None else self._new_state(queued[0].at)
                waiting = _unapplied(state, queued)
                if not replace and len(waiting) < len(queued):
                    pending.remove(cid, queued[: len(queued) - len(waiting)])
                if not waiting:
                    return len(pending.turns(cid)), False
                state = self._catch_up(state, waiting, lookup)
                try:
                    if replace:
                        sessions.save(state)
                        done = True
                    else:
                        done = sessions.save_if(state, loaded.version if loaded is not None else 0)
                except Exception as exc:
                    _log.warning(
                        "session store: %d turns of %s still wait: %s", len(waiting), cid, exc
                    )
                    return len(pending.turns(cid)), is_outage(exc)
                if done:
                    return pending.remove(cid, waiting), False
            time.sleep(random.uniform(0.0, min(0.05, 0.0005 * 2**attempt)))
        return len(pending.turns(cid)), False

    def _read_context(self) -> _Read:
        """What came before the next customer message, from the saved state (no context
        when the store cannot be read: a customer turn's decision then names that
        failure), and the state it was read from."""
        try:
            state = self._runtime.sessions.load(self.conversation_id)
        except Exception:
            return _Read(None, None, readable=False)
        turns = state.turns if state is not None else ()
        waiting = self._runtime.pending.turns(self.conversation_id)
        if waiting:
            base = state if state is not None else self._new_state(waiting[0].at)
            turns = (*turns, *(p.turn for p in _unapplied(base, waiting)))
        return _Read(with_encodings(message_context(turns), state), state, readable=True)

    async def aobserve(self, turn: Turn | Mapping[str, Any]) -> Decision:
        """:meth:`observe` for asyncio backends: inference runs in a worker thread, so the
        event loop is never blocked."""
        import asyncio

        return await asyncio.to_thread(self.observe, turn)

    def state(self) -> SessionState | None:
        """The saved state of this conversation, or ``None`` before its first turn (turns
        waiting for the store, see :meth:`flush`, are not in it yet)."""
        return self._runtime.sessions.load(self.conversation_id)

    def resolve(self) -> None:
        """Record that the bot resolved this conversation (it may go on; the outcome is
        updated if it later ends otherwise). Store failures are logged, never raised;
        a contact the history store cannot take now is queued and written later."""
        self.flush()
        state = self._set_outcome("resolved")
        if state is not None:
            self._record(contact_record(state, "resolved", self._runtime.clock))

    def end(self, outcome: Outcome | None = None) -> None:
        """End this conversation: record it in the history and forget its state.

        ``outcome`` is how it ended (``resolved``, ``handed_off`` or ``abandoned``); when
        not given, the outcome recorded so far is kept (``handed_off`` after a handoff,
        ``resolved`` after :meth:`resolve`), else the conversation counts as ``abandoned``.
        A conversation without a customer id, or never observed, is not recorded. Store
        failures are logged, never raised. Turns of the conversation that wait for the
        session store are applied first; if the store still cannot take them they keep
        waiting (and are applied to the saved state later), and the state is kept.
        """
        if outcome is not None and outcome not in ("resolved", "handed_off", "abandoned"):
            raise InputError(
                f"must be 'resolved', 'handed_off' or 'abandoned', got {outcome!r}",
                field="outcome",
            )
        sessions = self._runtime.sessions
        waiting = self.flush()
        try:
            state = sessions.load(self.conversation_id)
        except Exception as exc:
            _log.warning("session store: cannot load %s to end it: %s", self.conversation_id, exc)
            state = None
        if state is not None and state.turns:
            final: Outcome = outcome or state.outcome or "abandoned"
            self._record(contact_record(state, final, self._runtime.clock))
        if waiting:
            _log.warning(
                "session store: %s ended with %d turns still waiting; its state is kept",
                self.conversation_id,
                waiting,
            )
            return
        try:
            sessions.delete(self.conversation_id)
        except Exception as exc:
            _log.warning("session store: cannot delete %s: %s", self.conversation_id, exc)

    def _record(self, contact: ContactRecord | None) -> None:
        history = self._runtime.history
        if contact is not None and history is not None:
            history.record(contact)

    def _set_outcome(self, outcome: Outcome) -> SessionState | None:
        sessions = self._runtime.sessions
        for _ in range(MAX_ATTEMPTS):
            try:
                state = sessions.load(self.conversation_id)
                if state is None or not state.turns:
                    return None
                updated = state.model_copy(update={"outcome": outcome})
                if sessions.save_if(updated, state.version):
                    return updated
            except Exception as exc:
                _log.warning(
                    "session store: cannot record the outcome of %s: %s", self.conversation_id, exc
                )
                return None
        return None


def _started(queued: list[PendingTurn], now: datetime) -> datetime:
    """When a conversation with no saved state started: at its first waiting turn."""
    return queued[0].at if queued else now


def _unapplied(state: SessionState, queued: list[PendingTurn]) -> list[PendingTurn]:
    """The waiting turns ``state`` does not hold yet. Turns are applied in the order they
    wait, so every turn before the latest one the state holds is in it too."""
    if not state.applied:
        return list(queued)
    applied = set(state.applied)
    for k in range(len(queued) - 1, -1, -1):
        if queued[k].id in applied:
            return queued[k + 1 :]
    return list(queued)


def _mark(state: SessionState, turn_id: str) -> SessionState:
    """``state`` remembering that the turn ``turn_id`` was applied."""
    return state.model_copy(update={"applied": (*state.applied, turn_id)[-APPLIED_KEPT:]})


def _as_answered(before: SessionState, after: SessionState, answered: Decision) -> SessionState:
    """``after`` (a waiting turn applied to ``before``) with the guards' memory and the
    outcome set by the decision the caller was answered, not by one taken now."""
    memory = Memory(
        before.handed_off, before.last_escalation_action, before.last_escalation_user_turn
    ).after(Verdict(answered.action), after.dialogue.user_turns - 1)
    return after.model_copy(
        update={
            "handed_off": memory.handed_off,
            "last_escalation_action": memory.last_action,
            "last_escalation_user_turn": memory.last_user_turn,
            "outcome": "handed_off" if answered.action == "handoff" else before.outcome,
        }
    )


def with_encodings(context: MessageContext, state: SessionState | None) -> MessageContext:
    """``context`` with the encodings of its messages that ``state`` keeps."""
    if state is None or not state.encodings:
        return context
    found = [_decoded(state.encodings.get(text_key(t))) if t else None
             for t in (context.bot, context.user)]  # fmt: skip
    return MessageContext(context.bot, context.user, found[0], found[1])


def remember_encoding(state: SessionState, turn: Turn, encoding: bytes | None) -> SessionState:
    """``state`` (with ``turn`` applied) keeping the encodings of the latest bot and
    customer messages only: ``turn``'s own when it has one, the others' as they were."""
    if encoding is None and not state.encodings:
        return state
    latest = message_context(state.turns)
    kept: dict[str, str] = {}
    for role, text in (("bot", latest.bot), ("user", latest.user)):
        if not text:
            continue
        key = text_key(text)
        if encoding is not None and role == turn.role and text == turn.text:
            kept[key] = base64.b64encode(encoding).decode("ascii")
        elif key in state.encodings:
            kept[key] = state.encodings[key]
    if kept == state.encodings:
        return state
    return state.model_copy(update={"encodings": kept})


def _decoded(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None  # unreadable: the model encodes the message again
