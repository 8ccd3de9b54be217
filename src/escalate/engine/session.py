"""A handle on one live conversation: turns go in, decisions come out.

Each turn loads the conversation's state from the session store, takes one
:func:`~escalate.engine.step.step` and saves the new state with a compare-and-set on its
version; a turn that lost a race with another worker runs again on the newer state, so no
turn is ever lost.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from escalate.affect.base import AffectScores, MessageContext
from escalate.engine.history import contact_record, is_outage
from escalate.engine.runtime import Runtime
from escalate.engine.state import SessionState
from escalate.engine.step import (
    late_failure,
    message_context,
    prepare,
    session_failure,
    step,
)
from escalate.errors import InputError
from escalate.models import ContactRecord, Decision, Failure, Outcome, Turn

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
        scored = turn.role == "user" and turn.has_text
        if scored:
            # Inference runs outside the conversation's lock; the context it read is
            # checked again against the state the turn is saved on.
            context = self._context() if runtime.reads_context else None
            scores, affect_failed = self._score(turn, context)
        elif turn.role == "bot" and turn.has_text:
            runtime.prepare([turn.text or ""])
        now = turn.timestamp or runtime.clock()
        lookup = runtime.lookup()
        sessions = runtime.sessions
        decision: Decision | None = None
        final: SessionState | None = None
        for attempt in range(MAX_ATTEMPTS):
            with runtime.lock_for(self.conversation_id):
                failures = [affect_failed] if affect_failed is not None else []
                load_failure: Exception | None = None
                try:
                    loaded = sessions.load(self.conversation_id)
                except Exception as exc:
                    loaded, load_failure = None, exc
                    failures.append(session_failure(f"session store: {type(exc).__name__}: {exc}"))
                state = loaded if loaded is not None else self._new_state(now)
                if scored and runtime.reads_context and load_failure is None:
                    current = message_context(state.turns)
                    if current != context:  # another worker added a turn meanwhile
                        context = current
                        scores, affect_failed = self._score(turn, context)
                        failures = [affect_failed] if affect_failed is not None else []
                state, history_failed = prepare(compiled, state, turn, now, lookup)
                if history_failed is not None:
                    failures.append(history_failed)
                state, decision = step(
                    compiled, state, turn, scores, failures, now, lookup, runtime.embedder
                )
                final = state
                try:
                    if load_failure is None:
                        expected = loaded.version if loaded is not None else 0
                        done = sessions.save_if(state, expected)
                    else:
                        done = True
                        if not is_outage(load_failure):
                            sessions.save(state)  # the saved state was unreadable: replace it
                except Exception as exc:
                    done = True
                    if turn.role == "user" and decision.guard != "on_error":
                        decision = late_failure(
                            compiled.policy, decision, f"session store: {type(exc).__name__}: {exc}"
                        )
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
                "in a row; this turn was not saved",
            )
        assert decision is not None
        if final is not None and decision.action == "handoff":
            # recorded even when the session store failed: the handoff did happen
            self._record(contact_record(final, "handed_off", runtime.clock))
        return decision

    def _context(self) -> MessageContext | None:
        """What came before a customer turn, from the saved state (``None`` when the
        store cannot be read: the turn's decision then names that failure)."""
        try:
            state = self._runtime.sessions.load(self.conversation_id)
        except Exception:
            return None
        return message_context(state.turns) if state is not None else MessageContext()

    def _score(
        self, turn: Turn, context: MessageContext | None
    ) -> tuple[AffectScores | None, Failure | None]:
        batch, failed = self._runtime.score([turn.text or ""], [context])
        return (batch[0] if batch else None), failed

    async def aobserve(self, turn: Turn | Mapping[str, Any]) -> Decision:
        """:meth:`observe` for asyncio backends: inference runs in a worker thread, so the
        event loop is never blocked."""
        import asyncio

        return await asyncio.to_thread(self.observe, turn)

    def state(self) -> SessionState | None:
        """The saved state of this conversation, or ``None`` before its first turn."""
        return self._runtime.sessions.load(self.conversation_id)

    def resolve(self) -> None:
        """Record that the bot resolved this conversation (it may go on; the outcome is
        updated if it later ends otherwise). Store failures are logged, never raised;
        a contact the history store cannot take now is queued and written later."""
        state = self._set_outcome("resolved")
        if state is not None:
            self._record(contact_record(state, "resolved", self._runtime.clock))

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
        sessions = self._runtime.sessions
        try:
            state = sessions.load(self.conversation_id)
        except Exception as exc:
            _log.warning("session store: cannot load %s to end it: %s", self.conversation_id, exc)
            state = None
        if state is not None and state.turns:
            final: Outcome = outcome or state.outcome or "abandoned"
            self._record(contact_record(state, final, self._runtime.clock))
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
