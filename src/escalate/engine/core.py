"""The :class:`Engine` façade: a compiled policy, an affect model and stores.

A decision at turn *t* only ever sees turns up to *t*: :meth:`Session.observe
<escalate.engine.Session.observe>` is the one path by which live turns enter, and
:meth:`Engine.decide` (and replay) drive the same :func:`~escalate.engine.step.step`.

Stores
------
Session state lives in a :class:`~escalate.stores.session.SessionStore` (in memory, or
Redis shared by every worker). Contact history lives in a
:class:`~escalate.stores.history.HistoryStore`, reached through a
:class:`~escalate.engine.history.HistoryGateway`: read when a conversation starts (and
when its topic becomes known) for the ``history.*`` signals, written when a conversation
is handed off, resolved or ended. A write that fails waits in a bounded in-process queue
and is retried with the next write (or :meth:`Engine.flush_history`); a read that fails
makes that turn follow the policy's ``on_error`` and the next user turn tries again.

A turn the session store cannot take (down, or a failed save) waits in a bounded
in-process queue of unsaved turns (:mod:`~escalate.engine.pending`) and is applied, in
order and once, before the conversation's next turn, or by :meth:`Session.flush
<escalate.engine.Session.flush>` / :meth:`Engine.flush_sessions`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from escalate.affect.base import AffectModel, MessageContext
from escalate.affect.embedding import (
    HashingEmbedder,
    TextEmbedder,
    can_embed,
    topic_similarity_for,
)
from escalate.engine.config import (
    AffectArg,
    HistoryArg,
    SessionsArg,
    resolve_affect,
    resolve_history,
    resolve_sessions,
)
from escalate.engine.history import HistoryGateway, contact_record
from escalate.engine.pending import CAPACITY, TurnQueue
from escalate.engine.runtime import Runtime
from escalate.engine.session import Session
from escalate.engine.state import SessionState
from escalate.engine.step import compile_policy, message_context, prepare, step
from escalate.errors import InputError, PolicyError, PolicyProblem
from escalate.models import Conversation, Decision, Outcome
from escalate.policy import Policy, load_policy
from escalate.signals.catalog import requires_history
from escalate.signals.history import HistoryLookup, customer_signals
from escalate.stores.history import HistoryStore
from escalate.stores.session import MemorySessionStore, SessionStore

__all__ = ["Engine"]

_log = logging.getLogger("escalate")

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
        Where per-conversation state lives between turns (in memory by default). It
        must implement :meth:`~escalate.stores.session.SessionStore.save_if`.
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
        Returns the current time (an aware datetime); used for business hours when a
        turn has no timestamp, and to pause history reads after the store failed.
    pending_capacity:
        Most turns kept in memory, over all conversations, while the session store
        cannot take them (see :meth:`flush_sessions`).

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
        pending_capacity: int = CAPACITY,
    ) -> None:
        if not isinstance(policy, Policy):
            raise InputError(
                f"must be a Policy (see load_policy), got {type(policy).__name__}", field="policy"
            )
        _check_policy(policy, affect, history)
        if sessions is None:
            sessions = MemorySessionStore()
        elif not isinstance(sessions, SessionStore):
            raise InputError(
                f"must be a SessionStore (load, save, save_if, delete); {type(sessions).__name__} "
                "is not (save_if, the compare-and-set that keeps concurrent workers from "
                "losing each other's turns, is required)",
                field="sessions",
            )
        if (
            not isinstance(pending_capacity, int)
            or isinstance(pending_capacity, bool)
            or pending_capacity < 1
        ):
            raise InputError(
                f"must be a positive integer, got {pending_capacity!r}", field="pending_capacity"
            )
        if embedder is None:
            embedder = affect if can_embed(affect) else HashingEmbedder()
        if topic_similarity is None:
            topic_similarity = topic_similarity_for(embedder)
        clock = clock or _utcnow
        self.affect = affect
        self.sessions: SessionStore = sessions
        self.history = history
        self.embedder: TextEmbedder = embedder
        self.topic_similarity = topic_similarity
        self._runtime = Runtime(
            compile_policy(policy),
            affect=affect,
            sessions=sessions,
            history=HistoryGateway(history, clock=clock) if history is not None else None,
            embedder=embedder,
            topic_similarity=topic_similarity,
            clock=clock,
            pending=TurnQueue(pending_capacity),
        )
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
        else keeps history in ``history.db`` in escalate's data directory
        (``ESCALATE_DATA_DIR``, else the user's data directory; see
        :func:`~escalate.engine.config.data_dir`), never in the working directory.
        Nothing connects, and no file is created, until first use.

        Raises
        ------
        PolicyError
            The policy is invalid; every problem is listed with its file and line.
        """
        if not isinstance(policy, str | Path | Policy):
            raise InputError(
                "must be a policy file, the name of a shipped policy or a Policy, "
                f"got {type(policy).__name__}",
                field="policy",
            )
        model = resolve_affect(affect)
        store = resolve_history(history)
        compiled = (
            policy
            if isinstance(policy, Policy)
            else load_policy(policy, affect=model is not None, history=store is not None)
        )
        return cls(
            compiled,
            affect=model,
            sessions=resolve_sessions(sessions),
            history=store,
            embedder=embedder,
            clock=clock,
        )

    # -- policy ---------------------------------------------------------------------------
    @property
    def policy(self) -> Policy:
        """The policy in force now."""
        return self._runtime.compiled.policy

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
                _check_policy(new, self.affect, self.history)
            else:
                target = policy if policy is not None else self.policy.source
                new = load_policy(
                    target, affect=self.affect is not None, history=self.history is not None
                )
            self._runtime.compiled = compile_policy(new)
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
            A conversation id or customer id that is not a text of 1 to 200 characters, a
            channel that is not one of 1 to 50, or an unknown or non-numeric customer
            attribute.
        """
        _check_text(conversation_id, "conversation_id", 200)
        if customer_id is not None:
            _check_text(customer_id, "customer_id", 200)
        _check_text(channel, "channel", 50)
        attributes = customer_signals(customer)
        return Session(
            self._runtime,
            conversation_id,
            customer_id=customer_id,
            channel=channel,
            customer=attributes,
        )

    # -- turns the session store could not take yet ---------------------------------------
    def flush_sessions(self) -> int:
        """Apply the turns that wait for the session store; returns how many still wait.

        A turn waits when the session store could not take it (down, or a failed save);
        each conversation's next turn applies its own, and this method applies every
        conversation's, oldest first, in the order they were observed. It stops at the
        first conversation the store cannot take (one timeout, not one per
        conversation). Never raises. Call it when the store is back (a health check, a
        timer) and at shutdown; :meth:`close` calls it.
        """
        runtime = self._runtime
        queue = runtime.pending
        for cid in queue.conversations():
            waiting = queue.turns(cid)
            if not waiting:
                continue
            first = waiting[0]
            session = Session(
                runtime,
                cid,
                customer_id=first.customer_id,
                channel=first.channel,
                customer=first.customer,
            )
            _, down = session._flush()
            if down:
                break
        return queue.pending

    @property
    def pending_turns(self) -> int:
        """Turns waiting in memory for the session store, over all conversations."""
        return self._runtime.pending.pending

    @property
    def dropped_turns(self) -> int:
        """Turns dropped since this engine was built because the queue of turns waiting
        for the session store was full (``pending_capacity``); each is logged as an error."""
        return self._runtime.pending.dropped

    # -- history --------------------------------------------------------------------------
    def flush_history(self) -> int:
        """Write every contact still waiting after a failed write; returns how many wait on.

        Contacts wait in memory (at most 10,000, the oldest dropped first with a warning)
        while the history store is down; every later write, and this method, retries them.
        """
        gateway = self._runtime.history
        return gateway.flush() if gateway is not None else 0

    @property
    def pending_contacts(self) -> int:
        """Contacts waiting to be written to the history store."""
        gateway = self._runtime.history
        return gateway.pending if gateway is not None else 0

    @property
    def rejected_contacts(self) -> int:
        """Contacts the history store refused on their own (bad records, not an outage)
        while it took the others; each was dropped with an error in the log."""
        gateway = self._runtime.history
        return gateway.rejected if gateway is not None else 0

    def close(self) -> None:
        """Apply the turns that wait for the session store, write queued contacts and
        close the stores' connections."""
        left = self.flush_sessions()
        if left:
            _log.error("session store: closing with %d turns not saved", left)
        gateway = self._runtime.history
        if gateway is not None:
            gateway.close()
        closer = getattr(self.sessions, "close", None)
        if callable(closer):
            try:
                closer()
            except Exception as exc:  # closing must not raise at shutdown
                _log.warning("closing %r failed: %s", self.sessions, exc)

    # -- replay ---------------------------------------------------------------------------
    def decide(
        self,
        conversation: Conversation,
        *,
        history: HistoryStore | None = None,
        record: bool = False,
    ) -> list[Decision]:
        """Replay a whole conversation turn by turn; one decision per user turn (and per
        bot turn when the policy decides on bot turns).

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
        if not isinstance(conversation, Conversation):
            raise InputError(
                f"must be a Conversation, got {type(conversation).__name__}", field="conversation"
            )
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
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"must be a positive integer, got {batch_size!r}", field="batch_size")
        if record and history is None:
            raise InputError("record=True needs a history store to record in", field="history")
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
        runtime = self._runtime
        compiled = runtime.compiled
        texts: list[str] = []
        contexts: list[MessageContext | None] = []
        for c in chunk:
            for i, t in enumerate(c.turns):
                if t.role == "user" and t.has_text:
                    texts.append(t.text or "")
                    contexts.append(message_context(c.turns[:i]) if runtime.reads_context else None)
        scores, affect_failed = runtime.score(texts, contexts)
        score_iter = iter(scores)
        lookup = HistoryLookup(history, runtime.embedder, runtime.topic_similarity)
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
                has_text = turn.role == "user" and turn.has_text
                turn_scores = next(score_iter, None) if has_text else None
                now = turn.timestamp or runtime.clock()
                state, history_failed = prepare(compiled, state, turn, now, lookup)
                failures = [affect_failed] if affect_failed is not None else []
                if history_failed is not None:
                    failures.append(history_failed)
                state, decision = step(
                    compiled, state, turn, turn_scores, failures, now, lookup, runtime.embedder
                )
                if turn.role == "user" or (
                    turn.role == "bot" and compiled.policy.decides_on_bot_turns
                ):
                    decisions.append(decision)
            if record and history is not None:
                given = conversation.metadata.get("outcome")
                outcome: Outcome = "resolved"
                if state.handed_off:
                    outcome = "handed_off"
                elif given in ("resolved", "handed_off", "abandoned"):
                    outcome = given
                contact = contact_record(state, outcome, runtime.clock)
                if contact is not None:
                    history.record(contact)
            yield conversation, decisions


def _check_text(value: object, field: str, longest: int) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= longest:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise InputError(f"must be a text of 1 to {longest} characters, got {shown}", field=field)


def _problem(policy: Policy, message: str) -> PolicyProblem:
    return PolicyProblem(str(policy.source), None, (), message)


def _check_policy(policy: Policy, affect: AffectModel | None, history: HistoryStore | None) -> None:
    """Refuse a policy that names signals the engine cannot compute."""
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
