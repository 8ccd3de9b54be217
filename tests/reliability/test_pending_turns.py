"""Turns the session store cannot take wait in memory and are applied later, in order, once.

A session store that fails on command (:class:`FaultyStore`) plays the outages: a call
that fails before it reaches the store (the store is down), and a save that reaches the
store but whose reply is lost (it raises although it applied the turn), the case that
could apply a turn twice.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, datetime, timedelta

import pytest
from benchmarks.reliability.workload import POLICY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalate import Engine, Turn, parse_policy
from escalate.engine.pending import PendingTurn, TurnQueue, new_turn_id
from escalate.errors import StoreError
from escalate.models import Decision
from escalate.stores.history import MemoryHistoryStore
from escalate.stores.session import MemorySessionStore, SessionState

START = datetime(2026, 5, 4, 9, tzinfo=UTC)


class FaultyStore(MemorySessionStore):
    """A memory store whose calls fail as told.

    ``down`` makes every call fail before it reaches the store. ``plan`` holds the fate of
    the next calls, one per call, oldest first: ``"ok"``, ``"down"`` (fails, nothing
    done) or ``"lost"`` (a save is applied, then fails as if its reply was lost; for a
    load, the same as ``"down"``). With the plan empty, calls follow ``down``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.plan: deque[str] = deque()
        self.calls = 0

    def _fate(self) -> str:
        self.calls += 1
        if self.plan:
            return self.plan.popleft()
        return "down" if self.down else "ok"

    @staticmethod
    def _fail(what: str) -> None:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as exc:
            raise StoreError(f"test store: {what} failed: {exc}") from exc

    def load(self, conversation_id: str) -> SessionState | None:
        if self._fate() != "ok":
            self._fail("load")
        return super().load(conversation_id)

    def save(self, state: SessionState) -> None:
        fate = self._fate()
        if fate == "down":
            self._fail("save")
        super().save(state)
        if fate == "lost":
            self._fail("save")

    def save_if(self, state: SessionState, expected_version: int) -> bool:
        fate = self._fate()
        if fate == "down":
            self._fail("save")
        saved = super().save_if(state, expected_version)
        if fate == "lost":
            self._fail("save")
        return saved


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="escalate")  # store failures are the point


def engine_on(store: FaultyStore, policy: str = POLICY, **options: int) -> Engine:
    return Engine(
        parse_policy(policy, affect=False),
        sessions=store,
        history=MemoryHistoryStore(),
        **options,  # type: ignore[arg-type]
    )


def turn(tag: str, k: int, role: str = "user", text: str | None = None) -> Turn:
    return Turn(
        role=role,  # type: ignore[arg-type]
        text=text if text is not None else f"message {tag}",
        timestamp=START + timedelta(minutes=k),
        metadata={"id": tag},
    )


def ids(state: SessionState | None) -> list[str]:
    return [str(t.metadata["id"]) for t in state.turns] if state is not None else []


# -- ordering and flush ------------------------------------------------------------------------


def test_turns_of_an_outage_are_applied_in_order_before_the_next_turn() -> None:
    store = FaultyStore()
    engine = engine_on(store)
    a, b = engine.session("a", customer_id="u1"), engine.session("b", customer_id="u2")
    a.observe(turn("a0", 0))
    store.down = True
    for k in range(1, 4):
        decision = a.observe(turn(f"a{k}", k))
        assert decision.guard == "on_error"  # answered, never raised
        b.observe(turn(f"b{k}", k))
    assert (a.pending, b.pending, engine.pending_turns) == (3, 3, 6)
    assert ids(MemorySessionStore.load(store, "a")) == ["a0"]
    store.down = False
    a.observe(turn("a4", 4))
    assert ids(store.load("a")) == ["a0", "a1", "a2", "a3", "a4"]
    assert (a.pending, b.pending) == (0, 3)  # b waits for its own next turn, or a flush
    assert ids(store.load("b")) == []
    assert b.flush() == 0
    assert ids(store.load("b")) == ["b1", "b2", "b3"]
    state = store.load("b")
    assert state is not None and state.version == 3 and state.customer_id == "u2"
    assert state.started_at == START + timedelta(minutes=1)
    assert engine.pending_turns == 0


def test_flush_reports_what_still_waits_and_leaves_it_while_the_store_is_down() -> None:
    store = FaultyStore()
    engine = engine_on(store)
    session = engine.session("c1")
    store.down = True
    session.observe(turn("t0", 0))
    session.observe(turn("t1", 1, role="bot", text="Let me look."))
    assert session.flush() == 2 and engine.flush_sessions() == 2
    store.down = False
    assert session.flush() == 0 and session.flush() == 0
    assert ids(store.load("c1")) == ["t0", "t1"]


def test_engine_flush_stops_at_the_first_conversation_the_store_cannot_take() -> None:
    store = FaultyStore()
    engine = engine_on(store)
    store.down = True
    for c in range(5):
        engine.session(f"c{c}").observe(turn(f"c{c}", 0))
    calls = store.calls
    assert engine.flush_sessions() == 5
    assert store.calls == calls + 1  # one failed load, not one per conversation
    store.down = False
    assert engine.flush_sessions() == 0
    assert all(ids(store.load(f"c{c}")) == [f"c{c}"] for c in range(5))


def test_close_applies_the_waiting_turns() -> None:
    store = FaultyStore()
    engine = engine_on(store)
    store.down = True
    engine.session("c1").observe(turn("t0", 0))
    store.down = False
    engine.close()
    assert ids(store.load("c1")) == ["t0"]


def test_a_conversation_ended_after_an_outage_records_its_waiting_turns() -> None:
    store = FaultyStore()
    engine = engine_on(store)
    session = engine.session("c1", customer_id="u1")
    session.observe(turn("t0", 0, text="Where is my parcel?"))
    store.down = True
    session.observe(turn("t1", 1))
    session.end()  # the store is still down: the turn waits, nothing is deleted
    assert session.pending == 1
    store.down = False
    session.end(outcome="resolved")
    assert session.pending == 0 and store.load("c1") is None
    contact = engine.history.get("c1")  # type: ignore[union-attr]
    assert contact is not None and contact.outcome == "resolved"
    assert contact.ended_at == START + timedelta(minutes=1)  # the waiting turn's time


def test_a_failed_save_is_kept_too() -> None:
    store = FaultyStore()
    engine = engine_on(store)
    session = engine.session("c1")
    session.observe(turn("t0", 0))
    store.plan.extend(["ok", "down"])  # the load answers, the save fails
    assert session.observe(turn("t1", 1)).guard == "on_error"
    assert session.pending == 1
    session.observe(turn("t2", 2))
    assert ids(store.load("c1")) == ["t0", "t1", "t2"]


def test_a_turn_that_loses_every_race_waits_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import escalate.engine.session as session_module

    class Contended(FaultyStore):
        losing = False

        def save_if(self, state: SessionState, expected_version: int) -> bool:
            return False if self.losing else super().save_if(state, expected_version)

    monkeypatch.setattr(session_module, "MAX_ATTEMPTS", 3)
    store = Contended()
    session = engine_on(store).session("c1")
    session.observe(turn("t0", 0))
    store.losing = True
    decision = session.observe(turn("t1", 1))
    assert decision.guard == "on_error" and "waits to be saved" in decision.reasons[-1].detail
    assert session.pending == 1
    store.losing = False
    session.observe(turn("t2", 2))
    assert ids(store.load("c1")) == ["t0", "t1", "t2"]


def test_a_waiting_turn_keeps_the_decision_it_was_answered() -> None:
    policy = POLICY.replace("on_error: offer_human", "on_error: handoff")
    store = FaultyStore()
    engine = engine_on(store, policy)
    session = engine.session("c1", customer_id="u1")
    session.observe(turn("t0", 0))
    store.down = True
    answered = session.observe(turn("t1", 1, text="I already tried that"))
    assert answered.action == "handoff"  # the customer was handed over
    store.down = False
    session.observe(turn("t2", 2, text="hello?"))
    state = store.load("c1")
    assert state is not None and ids(state) == ["t0", "t1", "t2"]
    assert state.handed_off and state.outcome == "handed_off"
    assert state.last_escalation_action == "handoff" and state.last_escalation_user_turn == 1


# -- the bound ---------------------------------------------------------------------------------


def test_the_queue_is_bounded_and_counts_what_it_drops(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="escalate")
    store = FaultyStore()
    engine = engine_on(store, pending_capacity=3)
    session = engine.session("c1")
    session.observe(turn("t0", 0))
    store.down = True
    for k in range(1, 6):
        session.observe(turn(f"t{k}", k))
    assert (engine.pending_turns, engine.dropped_turns) == (3, 2)
    assert sum("queue of unsaved turns full" in r.getMessage() for r in caplog.records) == 2
    store.down = False
    assert engine.flush_sessions() == 0
    assert ids(store.load("c1")) == ["t0", "t3", "t4", "t5"]  # the oldest were dropped
    assert engine.dropped_turns == 2


def test_a_full_queue_drops_from_the_conversation_that_waited_longest() -> None:
    def pending(text: str) -> PendingTurn:
        return PendingTurn(
            new_turn_id(),
            Turn(role="user", text=text),
            START,
            Decision(conversation_id="x", turn=0, action="continue"),
        )

    queue = TurnQueue(capacity=3)
    queue.add("a", pending("a1"))
    queue.add("b", pending("b1"))
    queue.add("a", pending("a2"))
    queue.add("b", pending("b2"))
    assert [p.turn.text for p in queue.turns("a")] == ["a2"]
    queue.add("c", pending("c1"))
    assert queue.conversations() == ["b", "c"]  # a had waited longest, and is gone
    assert (queue.pending, queue.dropped) == (3, 2)
    assert queue.remove("b", queue.turns("b")[:1]) == 1
    assert queue.pending == 2
    with pytest.raises(ValueError):
        TurnQueue(capacity=0)


def test_the_capacity_must_be_a_positive_integer() -> None:
    from escalate.errors import InputError

    with pytest.raises(InputError, match="pending_capacity"):
        engine_on(FaultyStore(), pending_capacity=0)


# -- no turn lost, none applied twice, whatever fails when -------------------------------------

#: One step of a run: observe the next turn of a conversation, or flush; each with the
#: fates of the store calls it makes (more fates than calls are left for the next step).
Step = tuple[str, int, list[str]]
FATES = st.lists(st.sampled_from(["ok", "ok", "down", "lost"]), max_size=4)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["observe", "observe", "observe", "flush"]), st.integers(0, 1), FATES
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS, engine_flush=st.booleans())
def test_every_turn_is_saved_once_and_in_order_whatever_fails(
    steps: list[Step], engine_flush: bool
) -> None:
    store = FaultyStore()
    engine = engine_on(store)
    sessions = [engine.session(f"c{c}", customer_id=f"u{c}") for c in range(2)]
    observed: list[list[str]] = [[], []]
    for k, (what, c, fates) in enumerate(steps):
        store.plan = deque(fates)
        if what == "observe":
            tag = f"c{c}:{len(observed[c])}"
            role = "user" if len(observed[c]) % 2 == 0 else "bot"
            decision = sessions[c].observe(turn(tag, k, role=role))
            assert decision.conversation_id == f"c{c}"
            observed[c].append(tag)
        else:
            sessions[c].flush()
    store.plan.clear()
    if engine_flush:
        assert engine.flush_sessions() == 0
    else:
        assert [s.flush() for s in sessions] == [0, 0]
    for c in range(2):
        assert ids(store.load(f"c{c}")) == observed[c]  # none lost, none twice, in order
    assert engine.pending_turns == 0 and engine.dropped_turns == 0


@settings(max_examples=100, deadline=None)
@given(fates=st.lists(st.sampled_from(["ok", "down", "lost"]), min_size=1, max_size=30))
def test_the_dialogue_state_is_the_one_a_run_without_failures_saves(fates: list[str]) -> None:
    texts = ["Where is my parcel?", "I already tried that", "I already tried that", "ok"]
    script = []
    for k in range(12):
        if k % 2 == 0:
            script.append(turn(f"t{k}", k, text=texts[(k // 2) % 4]))
        else:
            script.append(turn(f"t{k}", k, role="bot", text="Sorry, I did not get that."))
    faulty, clean = FaultyStore(), FaultyStore()
    faulty.plan = deque(fates)
    for store in (faulty, clean):
        session = engine_on(store).session("c1", customer_id="u1")
        for t in script:
            session.observe(t)
        store.plan.clear()
        assert session.flush() == 0
    got, want = faulty.load("c1"), clean.load("c1")
    assert got is not None and want is not None
    assert got.turns == want.turns and got.dialogue == want.dialogue
    assert got.version == want.version == len(script)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.integers(0, 1), st.booleans(), FATES), min_size=1, max_size=25))
def test_two_workers_sharing_a_store_lose_nothing_and_apply_nothing_twice(
    steps: list[tuple[int, bool, list[str]]],
) -> None:
    """Two engines (two worker processes) observe one conversation through one store;
    each keeps its own waiting turns, so only each worker's own order is promised."""
    store = FaultyStore()
    workers = [engine_on(store), engine_on(store)]
    observed: list[list[str]] = [[], []]
    for k, (w, flush, fates) in enumerate(steps):
        store.plan = deque(fates)
        session = workers[w].session("c1", customer_id="u1")
        if flush:
            session.flush()
        else:
            tag = f"w{w}:{len(observed[w])}"
            session.observe(turn(tag, k))
            observed[w].append(tag)
    store.plan.clear()
    assert [w.flush_sessions() for w in workers] == [0, 0]
    saved = ids(store.load("c1"))
    assert sorted(saved) == sorted(observed[0] + observed[1])  # none lost, none twice
    for w in range(2):
        assert [t for t in saved if t.startswith(f"w{w}:")] == observed[w]
