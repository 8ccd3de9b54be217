from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import AFFECT_POLICY, DIALOGUE_POLICY, KeywordAffect

from escalate import Conversation, Engine, InputError, PolicyError, Turn, parse_policy
from escalate.engine.state import SessionState
from escalate.stores.session import MemorySessionStore


def dialogue_engine(**kwargs: object) -> Engine:
    return Engine(parse_policy(DIALOGUE_POLICY, affect=False), **kwargs)  # type: ignore[arg-type]


def affect_engine(model: KeywordAffect | None = None, **kwargs: object) -> Engine:
    return Engine(parse_policy(AFFECT_POLICY), affect=model or KeywordAffect(), **kwargs)  # type: ignore[arg-type]


def user(text: str, **kw: object) -> Turn:
    return Turn(role="user", text=text, **kw)  # type: ignore[arg-type]


def test_a_request_for_a_human_hands_off_with_reasons_and_packet() -> None:
    session = dialogue_engine().session("c1", customer_id="u1")
    assert session.observe(user("Where is my parcel?")).action == "continue"
    decision = session.observe(user("Let me speak to a real person"))
    assert (decision.action, decision.rule, decision.queue, decision.priority) == (
        "handoff",
        "asked-for-human",
        "general",
        "high",
    )
    assert decision.turn == 1
    assert [(r.signal, r.value) for r in decision.reasons] == [("dialogue.asked_for_human", 1.0)]
    packet = decision.packet
    assert packet is not None
    assert packet.customer_id == "u1"
    assert [t.text for t in packet.transcript] == [
        "Where is my parcel?",
        "Let me speak to a real person",
    ]
    assert packet.signals["dialogue.user_turns"] == 2


def test_bot_turns_are_recorded_and_answered_with_continue() -> None:
    session = dialogue_engine().session("c1")
    session.observe(user("change my address"))
    assert session.observe(Turn(role="bot", event="fallback")).action == "continue"
    session.observe(user("change address please"))
    session.observe(Turn(role="bot", event="fallback"))
    decision = session.observe(user("hello?"))
    assert (decision.action, decision.rule, decision.turn) == ("offer_human", "bot-stuck", 4)


def test_cooldown_suppresses_a_repeat_offer_but_not_an_explicit_request() -> None:
    session = affect_engine().session("c1")
    assert session.observe(user("this is ridiculous")).action == "offer_human"
    assert session.observe(user("ok")).action == "continue"
    again = session.observe(user("absolutely ridiculous"))
    assert (again.action, again.rule, again.guard, again.suppressed) == (
        "continue",
        "angry-now",
        "cooldown",
        "offer_human",
    )
    # a stronger action is not held back by the cooldown
    stronger = session.observe(user("still ridiculous"))
    assert stronger.action == "handoff" and stronger.rule == "upset"


def test_explicit_request_wins_over_rules() -> None:
    session = affect_engine().session("c1")
    decision = session.observe(user("this is ridiculous, get me a manager"))
    assert (decision.action, decision.rule, decision.priority) == (
        "handoff",
        "explicit_request",
        "urgent",
    )


def test_no_second_handoff() -> None:
    session = dialogue_engine().session("c1")
    assert session.observe(user("human please")).action == "handoff"
    again = session.observe(user("hello? a human?"))
    assert (again.action, again.guard, again.suppressed) == (
        "continue",
        "single_handoff",
        "handoff",
    )


def test_business_hours_turn_a_handoff_into_the_outside_action() -> None:
    text = DIALOGUE_POLICY.replace(
        "guards:\n",
        "guards:\n  business_hours: {timezone: Europe/London, open: '09:00-17:00', "
        "days: [mon, tue, wed, thu, fri], outside: offer_callback}\n",
    )
    engine = Engine(parse_policy(text, affect=False))
    saturday = datetime(2026, 5, 2, 12, tzinfo=UTC)
    monday = datetime(2026, 5, 4, 12, tzinfo=UTC)
    closed = engine.session("a").observe(user("a human please", timestamp=saturday))
    assert (closed.action, closed.guard, closed.suppressed) == (
        "offer_callback",
        "business_hours",
        "handoff",
    )
    assert engine.session("b").observe(user("a human please", timestamp=monday)).action == "handoff"
    # with no timestamp the engine's clock decides
    late = Engine(parse_policy(text, affect=False), clock=lambda: saturday)
    assert late.session("c").observe(user("a human please")).action == "offer_callback"


def test_exempt_priorities_reach_a_person_out_of_hours() -> None:
    text = DIALOGUE_POLICY.replace(
        "guards:\n",
        "guards:\n  business_hours: {timezone: UTC, open: '09:00-17:00', exempt_priorities: [high]}\n",
    )
    sunday = datetime(2026, 5, 3, 12, tzinfo=UTC)
    engine = Engine(parse_policy(text, affect=False), clock=lambda: sunday)
    urgent = engine.session("a").observe(user("a human please"))  # priority high: exempt
    assert (urgent.action, urgent.guard) == ("handoff", None)
    session = engine.session("b")
    session.observe(Turn(role="bot", event="fallback"))
    session.observe(Turn(role="bot", event="fallback"))
    normal = session.observe(user("hello?"))  # bot-stuck, priority normal: not exempt
    assert (normal.action, normal.guard, normal.suppressed) == (
        "offer_callback",
        "business_hours",
        "offer_human",
    )


def test_a_policy_naming_affect_signals_needs_a_model() -> None:
    with pytest.raises(PolicyError, match="affect"):
        parse_policy(AFFECT_POLICY, affect=False)
    with pytest.raises(PolicyError, match="affect model"):
        Engine(parse_policy(AFFECT_POLICY), affect=None)


def test_a_failing_model_follows_on_error_and_says_so() -> None:
    engine = affect_engine(KeywordAffect(fail=True))
    decision = engine.session("c1").observe(user("hello"))
    assert (decision.action, decision.rule, decision.guard) == (
        "offer_human",
        "on_error",
        "on_error",
    )
    assert "model exploded" in (decision.reasons[0].detail or "")
    # the turn was still recorded
    assert len(engine.session("c1").state().turns) == 1  # type: ignore[union-attr]


DIALOGUE_FIRST = """\
version: 1
rules:
  - id: bot-stuck
    when: dialogue.consecutive_fallbacks >= 2
    then: {action: offer_human, queue: general}
  - id: angry-now
    when: mood.frustration >= 0.7
    then: {action: handoff}
guards:
  explicit_request:
    when: dialogue.asked_for_human or human_request >= 0.8
    then: {action: handoff, queue: general, priority: high}
  cooldown_turns: 0
on_error: offer_human
"""


def test_a_failing_model_leaves_dialogue_rules_and_keywords_deciding() -> None:
    engine = Engine(parse_policy(DIALOGUE_FIRST), affect=KeywordAffect(fail=True))
    asked = engine.session("c1").observe(user("Get me a person"))
    assert (asked.action, asked.rule, asked.guard) == ("handoff", "explicit_request", None)
    assert [(r.code, r.detail) for r in asked.reasons][-1] == (
        "degraded",
        "affect model: RuntimeError: model exploded",
    )
    # the explicit request may hold by the model's score: unknown, so on_error decides
    session = engine.session("c2")
    unsure = session.observe(user("change my address"))
    assert (unsure.action, unsure.rule, unsure.guard) == ("offer_human", "on_error", "on_error")
    assert "model exploded" in str(unsure.reasons[0])
    assert "'explicit_request' needs human_request" in str(unsure.reasons[0])
    # a dialogue rule that holds comes before any rule that needs the model
    engine = Engine(
        parse_policy(DIALOGUE_FIRST.replace(" or human_request >= 0.8", "")),
        affect=KeywordAffect(fail=True),
    )
    session = engine.session("c3")
    session.observe(Turn(role="bot", event="fallback"))
    session.observe(Turn(role="bot", event="fallback"))
    stuck = session.observe(user("hello?"))
    assert (stuck.action, stuck.rule, stuck.guard) == ("offer_human", "bot-stuck", None)
    assert stuck.reasons[-1].code == "degraded"
    calm = engine.session("c4").observe(user("hello"))
    assert (calm.rule, calm.guard) == ("on_error", "on_error")  # angry-now cannot be decided


def test_a_model_failure_does_not_touch_a_policy_that_reads_no_affect() -> None:
    engine = Engine(parse_policy(DIALOGUE_POLICY, affect=False), affect=KeywordAffect(fail=True))
    decision = engine.session("c1").observe(user("hello"))
    assert (decision.action, decision.guard, decision.reasons) == ("continue", None, [])


class BrokenStore(MemorySessionStore):
    def __init__(self, *, fail_load: bool = False, fail_save: bool = False) -> None:
        super().__init__()
        self.fail_load, self.fail_save = fail_load, fail_save

    def load(self, conversation_id: str) -> SessionState | None:
        if self.fail_load:
            raise ConnectionError("store down")
        return super().load(conversation_id)

    def save(self, state: SessionState) -> None:
        if self.fail_save:
            raise TimeoutError("store slow")
        super().save(state)


@pytest.mark.parametrize("kwargs", [{"fail_load": True}, {"fail_save": True}])
def test_a_failing_store_never_raises(kwargs: dict[str, bool]) -> None:
    engine = dialogue_engine(sessions=BrokenStore(**kwargs))
    decision = engine.session("c1").observe(user("hello"))
    assert decision.action == "handoff" and decision.guard == "on_error"
    assert "session store" in (decision.reasons[-1].detail or "")


class NoCompareAndSet:
    """A session store from before compare-and-set: load, save and delete only."""

    def __init__(self) -> None:
        self.inner = MemorySessionStore()

    def load(self, conversation_id: str) -> SessionState | None:
        return self.inner.load(conversation_id)

    def save(self, state: SessionState) -> None:
        self.inner.save(state)

    def delete(self, conversation_id: str) -> None:
        self.inner.delete(conversation_id)


def test_a_session_store_without_save_if_is_refused() -> None:
    with pytest.raises(InputError, match="save_if") as info:
        dialogue_engine(sessions=NoCompareAndSet())
    assert info.value.field == "sessions"


class FlakyStore(MemorySessionStore):
    """Loads fail while ``down``; saves always work."""

    down = False

    def load(self, conversation_id: str) -> SessionState | None:
        if self.down:
            raise TimeoutError("store slow")
        return super().load(conversation_id)


def test_a_load_that_times_out_never_overwrites_the_saved_conversation() -> None:
    store = FlakyStore()
    session = dialogue_engine(sessions=store).session("c1")
    for text in ("first", "second", "third"):
        session.observe(user(text))
    store.down = True
    decision = session.observe(user("fourth"))
    assert decision.guard == "on_error" and "store slow" in str(decision.reasons[-1])
    store.down = False
    state = session.state()
    assert state is not None and [t.text for t in state.turns] == ["first", "second", "third"]


def test_an_unreadable_session_leaves_the_latest_turn_deciding() -> None:
    policy = """\
version: 1
rules:
  - id: angry-now
    when: mood.frustration >= 0.7
    then: {action: handoff}
  - id: upset-for-long
    when: trajectory.negative.streak >= 2
    then: {action: offer_human}
guards:
  explicit_request:
    when: dialogue.asked_for_human
    then: {action: handoff, priority: high}
on_error: offer_human
"""
    engine = Engine(parse_policy(policy), affect=KeywordAffect(),
                    sessions=BrokenStore(fail_load=True))  # fmt: skip
    asked = engine.session("c1").observe(user("a human please"))
    assert (asked.action, asked.rule, asked.guard) == ("handoff", "explicit_request", None)
    assert asked.reasons[-1].code == "degraded" and "store down" in str(asked.reasons[-1])
    angry = engine.session("c1").observe(user("this is ridiculous, I am furious"))
    # angry-now holds, but single handoff would have stopped a second handoff: unknown
    assert (angry.action, angry.guard) == ("offer_human", "on_error")
    assert "earlier turns" in str(angry.reasons[0])
    calm = engine.session("c1").observe(user("hello"))
    # the streak needs the earlier turns: unknown, so on_error decides
    assert (calm.action, calm.guard) == ("offer_human", "on_error")
    assert "'upset-for-long' needs trajectory.negative.streak" in str(calm.reasons[0])


def test_sessions_share_state_through_the_store() -> None:
    engine = dialogue_engine()
    engine.session("c1").observe(user("I want to cancel my subscription"))
    engine.session("c1").observe(user("I want to cancel my subscription"))
    decision = engine.session("c1").observe(user("I want to cancel my subscription!"))
    assert decision.rule == "bot-stuck"
    assert engine.session("c2").state() is None


def test_observe_validates_mappings_and_names_the_field() -> None:
    session = dialogue_engine().session("c1")
    assert session.observe({"role": "user", "text": "hi"}).action == "continue"
    with pytest.raises(InputError) as info:
        session.observe({"role": "customer", "text": "hi"})
    assert info.value.field == "role"
    with pytest.raises(InputError, match="conversation_id"):
        dialogue_engine().session("")


def test_reload_is_atomic_and_a_bad_policy_keeps_the_old(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p.yaml"
    path.write_text(DIALOGUE_POLICY)
    engine = Engine.from_policy(path, affect=None)
    path.write_text(
        DIALOGUE_POLICY.replace("dialogue.asked_for_human", "dialogue.asked_for_humans")
    )
    with pytest.raises(PolicyError, match=r"did you mean 'dialogue\.asked_for_human'"):
        engine.reload()
    assert engine.session("c").observe(user("a human please")).action == "handoff"
    path.write_text(
        DIALOGUE_POLICY.replace(
            "action: handoff, queue: general", "action: offer_human, queue: general"
        )
    )
    engine.reload()
    assert engine.session("d").observe(user("a human please")).action == "offer_human"


def test_many_threads_observe_many_sessions() -> None:
    engine = affect_engine(KeywordAffect(delay=0.001))
    script = ["hello", "this is ridiculous", "I am furious", "get me a person", "ok"]
    results: dict[str, list[str]] = {}

    def worker(k: int) -> None:
        for i in range(5):
            cid = f"t{k}-{i}"
            results[cid] = [engine.session(cid).observe(user(text)).action for text in script]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = [
        d.action
        for d in affect_engine().decide(Conversation(id="x", turns=[user(t) for t in script]))
    ]
    assert len(results) == 40
    assert all(actions == expected for actions in results.values())


def test_many_threads_on_one_conversation_lose_no_turn() -> None:
    engine = dialogue_engine()
    threads = [
        threading.Thread(
            target=lambda k=k: [
                engine.session("same").observe(user(f"m{k}-{i}")) for i in range(25)
            ]
        )
        for k in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = engine.session("same").state()
    assert state is not None and len(state.turns) == 100 and state.version == 100


def test_aobserve_does_not_block_the_event_loop() -> None:
    engine = affect_engine(KeywordAffect(delay=0.2))

    async def main() -> tuple[str, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        decision = await engine.session("c").aobserve(user("this is ridiculous"))
        task.cancel()
        return decision.action, ticks

    start = time.perf_counter()
    action, ticks = asyncio.run(main())
    assert action == "offer_human"
    assert ticks >= 5, "the loop stalled while the model ran"
    assert time.perf_counter() - start >= 0.2


def test_decide_matches_observe_and_batches_the_model() -> None:
    model = KeywordAffect()
    engine = affect_engine(model)
    turns = [
        user("hi"),
        Turn(role="bot", text="hello"),
        user("this is useless"),
        user("still useless"),
    ]
    decisions = engine.decide(Conversation(id="c", turns=turns))
    assert model.calls == 1
    assert [d.turn for d in decisions] == [0, 2, 3]
    session = engine.session("c")
    observed = [session.observe(t) for t in turns]
    assert [d for d in observed if d.turn in (0, 2, 3)] == decisions
    assert engine.session("never").state() is None  # decide leaves the store alone


TEXTS = ["hi", "this is ridiculous", "I am furious", "get me a person", "ok thanks", "useless bot",
         "I'm scared", "change my address", "change my address"]  # fmt: skip
turn_st = st.one_of(
    st.builds(user, st.sampled_from(TEXTS)),
    st.builds(Turn, role=st.just("bot"), event=st.sampled_from(["fallback", "answer"])),
    st.builds(
        Turn, role=st.just("user"), intent=st.sampled_from(["inform", "transfer_agent", "negate"])
    ),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(turn_st, min_size=1, max_size=12), st.lists(turn_st, max_size=6))
def test_appending_later_turns_never_changes_earlier_decisions(
    head: list[Turn], tail: list[Turn]
) -> None:
    engine = affect_engine()
    before = engine.decide(Conversation(id="c", turns=head))
    after = engine.decide(Conversation(id="c", turns=head + tail))
    assert after[: len(before)] == before
    assert engine.decide(Conversation(id="c", turns=head)) == before  # deterministic


def test_decide_many_batches_across_conversations_and_keeps_order() -> None:
    model = KeywordAffect()
    engine = affect_engine(model)
    conversations = [
        Conversation(id=f"c{i}", turns=[user("hi"), user("this is useless" if i % 2 else "fine")])
        for i in range(5)
    ]
    results = list(engine.decide_many(conversations, batch_size=3))
    assert model.calls == 2
    assert [c.id for c, _ in results] == [c.id for c in conversations]
    assert [d for _, d in results] == [engine.decide(c) for c in conversations]
    with pytest.raises(ValueError, match="batch_size"):
        list(engine.decide_many(conversations, batch_size=0))


def test_the_shipped_model_gives_replay_the_scores_it_gave_live() -> None:
    engine = Engine.from_policy("default", history="memory://")
    turns = [
        user("My refund still hasn't arrived and it has been three weeks."),
        Turn(role="bot", text="Refunds take 5 to 10 working days."),
        user("This is ridiculous, I am furious."),
        Turn(role="bot", text="Refunds take 5 to 10 working days."),
        user("Get me a real person now."),
    ]
    live = [engine.session("live").observe(t) for t in turns]
    replayed = engine.decide(Conversation(id="live", turns=turns))
    # the default policy decides on bot turns too: one decision per turn, live and replayed
    assert [d.role for d in replayed] == ["user", "bot", "user", "bot", "user"]
    assert live == replayed
    for d, r in zip(live, replayed, strict=True):
        assert d.signals == r.signals  # bit for bit: no text's score depends on another's
    head = engine.decide(Conversation(id="live", turns=turns[:3]))
    assert [d.signals for d in head] == [d.signals for d in replayed[:3]]
