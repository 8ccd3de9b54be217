from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalate.models import Turn
from escalate.signals.dialogue import (
    DialogueAnalyzer,
    DialogueConfig,
    DialogueState,
    normalise,
    repeats,
    similar,
)

ANALYZER = DialogueAnalyzer(DialogueConfig())


def run(turns: list[Turn], analyzer: DialogueAnalyzer = ANALYZER) -> dict[str, float | None]:
    state = DialogueState()
    for turn in turns:
        state = analyzer.advance(state, turn)
    return analyzer.signals(state)


def test_counts_turns_by_role() -> None:
    s = run([Turn(role="user", text="a"), Turn(role="bot", text="b"), Turn(role="agent", text="c")])
    assert (s["dialogue.turns"], s["dialogue.user_turns"], s["dialogue.bot_turns"]) == (3, 1, 1)


def test_fallbacks_from_event_intent_and_phrase() -> None:
    s = run(
        [
            Turn(role="bot", event="fallback"),
            Turn(role="bot", intent="did_not_understand"),
            Turn(role="bot", text="Sorry, I didn't understand. Could you rephrase?"),
        ]
    )
    assert s["dialogue.fallbacks"] == 3
    assert s["dialogue.consecutive_fallbacks"] == 3


def test_consecutive_fallbacks_reset_on_a_real_answer_but_not_on_user_turns() -> None:
    s = run(
        [
            Turn(role="bot", event="fallback"),
            Turn(role="user", text="hmm"),
            Turn(role="bot", event="fallback"),
        ]
    )
    assert s["dialogue.consecutive_fallbacks"] == 2
    s = run([Turn(role="bot", event="fallback"), Turn(role="bot", text="Your order ships today.")])
    assert s["dialogue.consecutive_fallbacks"] == 0
    assert s["dialogue.fallbacks"] == 1


def test_policy_phrases_replace_the_defaults() -> None:
    analyzer = DialogueAnalyzer(DialogueConfig(fallback_phrases=["computer says no"]))
    assert run([Turn(role="bot", text="Computer says no.")], analyzer)["dialogue.fallbacks"] == 1
    assert (
        run([Turn(role="bot", text="Sorry, I didn't understand")], analyzer)["dialogue.fallbacks"]
        == 0
    )


def test_user_repeats_need_a_near_duplicate_of_some_length() -> None:
    s = run(
        [
            Turn(role="user", text="I want to cancel my subscription"),
            Turn(role="user", text="yes"),
            Turn(role="user", text="yes"),
            Turn(role="user", text="I want to cancel my subscription!!!"),
        ]
    )
    assert s["dialogue.user_repeats"] == 1
    assert s["dialogue.user_repeated"] == 1
    s = run(
        [
            Turn(role="user", text="I want to cancel my subscription"),
            Turn(role="user", text="thanks, bye"),
        ]
    )
    assert s["dialogue.user_repeated"] == 0


def test_bot_loops_by_text_and_by_intent() -> None:
    s = run(
        [
            Turn(role="bot", text="Refunds take 5 to 10 working days."),
            Turn(role="user", text="It has been three weeks"),
            Turn(role="bot", text="Refunds take 5 to 10 working days"),
        ]
    )
    assert s["dialogue.bot_repeats"] == 1
    s = run([Turn(role="bot", intent="ask_date"), Turn(role="bot", intent="ask_date")])
    assert s["dialogue.bot_repeats"] == 1


def test_answers_to_two_questions_are_not_a_customer_repeating_themselves() -> None:
    s = run(
        [
            Turn(role="bot", text="Please confirm: a table for 2 at 7 pm."),
            Turn(role="user", text="Yes, that works for me."),
            Turn(role="bot", text="Please confirm: a taxi for 2 at 6:30 pm."),
            Turn(role="user", text="Yes, that works for me."),
        ]
    )
    assert s["dialogue.user_repeats"] == 0
    # a correction made twice is
    s = run(
        [
            Turn(role="user", text="No, I said Tuesday not Thursday"),
            Turn(role="bot", text="Booked for Thursday."),
            Turn(role="user", text="No, I said Tuesday not Thursday!"),
        ]
    )
    assert s["dialogue.user_repeats"] == 1


def test_a_bot_offering_other_numbers_is_not_looping() -> None:
    s = run(
        [
            Turn(role="bot", text="There's a 10:20 am bus with 0 transfers for $26."),
            Turn(role="user", text="Anything later?"),
            Turn(role="bot", text="There's a 12:20 pm bus with 0 transfers for $25."),
        ]
    )
    assert s["dialogue.bot_repeats"] == 0
    s = run(
        [
            Turn(role="bot", text="Your order 1234 ships in 3 days."),
            Turn(role="user", text="That's what you said last week"),
            Turn(role="bot", text="Your order 1234 ships in 3 days!"),
        ]
    )
    assert s["dialogue.bot_repeats"] == 1


@given(st.text(max_size=60), st.text(max_size=60))
def test_repeating_is_symmetric_and_reflexive(a: str, b: str) -> None:
    a, b = normalise(a), normalise(b)
    assert repeats(a, a, 0.85)
    assert repeats(a, b, 0.85) == repeats(b, a, 0.85)


def test_negations_and_human_requests() -> None:
    s = run(
        [
            Turn(role="user", text="No, that's not what I asked"),
            Turn(role="user", intent="negate"),
            Turn(role="user", text="Can I talk to a real person?"),
        ]
    )
    assert s["dialogue.user_negations"] == 2
    assert s["dialogue.asked_for_human"] == 1
    assert s["dialogue.human_requests"] == 1
    assert s["dialogue.failures"] == 2


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("Could someone call me back this afternoon?", True),
        ("I'd like a callback please", True),
        ("Unbelievable. Put me through to a person now.", True),
        ("Transfer me to your billing team", True),
        ("I need a location that is accessible to a person with a disability.", False),
        ("I'll call back tomorrow", False),
    ],
)
def test_callbacks_and_transfers_are_requests_for_a_person(text: str, asked: bool) -> None:
    assert run([Turn(role="user", text=text)])["dialogue.asked_for_human"] == int(asked)


def test_user_failures_are_counted_apart_from_negations() -> None:
    s = run(
        [
            Turn(role="user", intent="inconclusive"),
            Turn(role="bot", intent="ask_date"),
            Turn(role="user", event="noise"),
            Turn(role="user", intent="negate"),
            Turn(role="user", intent="NLU_FALLBACK"),
        ]
    )
    assert s["dialogue.user_failures"] == 3
    assert s["dialogue.consecutive_user_failures"] == 1
    assert s["dialogue.user_negations"] == 1
    assert s["dialogue.failures"] == 1  # fallbacks + re-prompts + negations only
    s = run(
        [
            Turn(role="user", intent="noise"),
            Turn(role="bot", intent="ask_date"),
            Turn(role="user", intent="noise"),
        ]
    )
    assert s["dialogue.consecutive_user_failures"] == 2  # bot turns do not break the run
    assert run([Turn(role="bot", intent="noise")])["dialogue.user_failures"] == 0


def test_successes_and_user_turns_since_the_latest_one() -> None:
    analyzer = DialogueAnalyzer(DialogueConfig(success_intents=["confirm_date_scheduled"]))
    s = run([Turn(role="user", intent="schedule"), Turn(role="user", intent="inform")], analyzer)
    assert (s["dialogue.successes"], s["dialogue.turns_since_success"]) == (0, 2)
    s = run(
        [
            Turn(role="user", intent="schedule"),
            Turn(role="bot", intent="Confirm_Date_Scheduled"),
            Turn(role="user", intent="inform"),
            Turn(role="user", intent="inform"),
        ],
        analyzer,
    )
    assert (s["dialogue.successes"], s["dialogue.turns_since_success"]) == (1, 2)
    s = run([Turn(role="user", intent="schedule"), Turn(role="user", event="task_completed")])
    assert (s["dialogue.successes"], s["dialogue.turns_since_success"]) == (1, 0)


def test_dialogue_state_with_new_counts_round_trips_through_json() -> None:
    state = DialogueState()
    for turn in [Turn(role="user", intent="noise"), Turn(role="bot", event="task_completed")]:
        state = ANALYZER.advance(state, turn)
    restored = DialogueState.model_validate_json(state.model_dump_json())
    assert restored == state
    assert ANALYZER.signals(restored) == ANALYZER.signals(state)


def test_human_request_keywords_respect_word_boundaries() -> None:
    s = run([Turn(role="user", text="My order is inhumanely late")])
    assert s["dialogue.asked_for_human"] == 0
    s = run([Turn(role="user", intent="transfer_agent")])
    assert s["dialogue.asked_for_human"] == 1


def test_elapsed_and_gap_need_timestamps() -> None:
    assert run([Turn(role="user", text="a")])["dialogue.elapsed_seconds"] is None
    t0 = datetime(2026, 5, 1, 10, tzinfo=UTC)
    s = run(
        [
            Turn(role="user", text="a", timestamp=t0),
            Turn(role="bot", text="b", timestamp=t0 + timedelta(seconds=5)),
            Turn(role="user", text="c", timestamp=t0 + timedelta(seconds=65)),
        ]
    )
    assert s["dialogue.elapsed_seconds"] == 65
    assert s["dialogue.gap_seconds"] == 60


def test_normalise_and_similar() -> None:
    assert normalise("  Hello,   WORLD!! ") == "hello world"
    assert similar("change my address", "change my address", 0.9)
    assert not similar("change my address", "what are your opening hours", 0.85)


turns_strategy = st.lists(
    st.builds(
        Turn,
        role=st.sampled_from(["user", "bot", "agent", "system"]),
        text=st.text(min_size=1, max_size=40).filter(lambda t: t.strip() != ""),
        event=st.sampled_from([None, "fallback", "rephrase", "no_input", "task_completed"]),
        intent=st.sampled_from(
            [None, "negate", "transfer_agent", "ask_date", "inconclusive", "resolved"]
        ),
    ),
    max_size=15,
)


@given(turns_strategy)
def test_signals_are_a_pure_function_of_the_turns(turns: list[Turn]) -> None:
    first = run(turns)
    assert run(turns) == first
    assert first["dialogue.turns"] == len(turns)
    assert first["dialogue.user_turns"] == sum(t.role == "user" for t in turns)
    assert (
        0
        <= first["dialogue.consecutive_fallbacks"]
        <= first["dialogue.fallbacks"]
        <= first["dialogue.bot_turns"]
    )
    assert first["dialogue.user_repeats"] <= first["dialogue.user_turns"]
    counts = {k: v for k, v in first.items() if v is not None}
    assert (
        0
        <= counts["dialogue.consecutive_user_failures"]
        <= counts["dialogue.user_failures"]
        <= counts["dialogue.user_turns"]
    )
    assert 0 <= counts["dialogue.turns_since_success"] <= counts["dialogue.user_turns"]
    assert counts["dialogue.successes"] <= sum(t.role in ("user", "bot") for t in turns)


@given(turns_strategy, turns_strategy)
def test_counters_never_decrease_as_turns_are_appended(head: list[Turn], tail: list[Turn]) -> None:
    before, after = run(head), run(head + tail)
    for name in (
        "dialogue.fallbacks",
        "dialogue.user_repeats",
        "dialogue.bot_repeats",
        "dialogue.human_requests",
        "dialogue.user_failures",
        "dialogue.successes",
    ):
        assert after[name] >= before[name]  # type: ignore[operator]


@given(turns_strategy, turns_strategy)
def test_advance_never_mutates_the_state(head: list[Turn], tail: list[Turn]) -> None:
    state = DialogueState()
    for turn in head:
        state = ANALYZER.advance(state, turn)
    frozen = state.model_dump()
    for turn in tail:
        ANALYZER.advance(state, turn)
    assert state.model_dump() == frozen


@given(
    st.text(alphabet="abcde xyz", max_size=40),
    st.text(alphabet="abcde xyz", max_size=40),
    st.sampled_from([0.5, 0.7, 0.85, 0.95]),
)
def test_similar_is_the_length_check_and_the_difflib_ratio(a: str, b: str, t: float) -> None:
    import difflib

    longer = max(len(a), len(b))
    expected = a == b or (
        longer > 0
        and min(len(a), len(b)) / longer >= t
        and difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= t
    )
    assert similar(a, b, t) == expected
