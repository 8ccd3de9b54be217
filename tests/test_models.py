from datetime import UTC, datetime

import pytest

from escalate.errors import InputError
from escalate.models import MAX_TEXT_CHARS, Conversation, Decision, Reason, Signals, Turn


def test_turn_needs_text_intent_or_event() -> None:
    with pytest.raises(InputError, match=r"a text \(which may be empty\), an intent or an event"):
        Turn(role="user")
    assert Turn(role="bot", intent="greeting").text is None
    assert Turn(role="bot", event="fallback").event == "fallback"


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_an_empty_message_is_a_turn_without_text(text: str) -> None:
    turn = Turn(role="user", text=text)
    assert turn.text == text
    assert not turn.has_text


def test_turn_rejects_unknown_role_and_fields() -> None:
    with pytest.raises(InputError) as info:
        Turn(role="customer", text="hi")  # type: ignore[arg-type]
    assert info.value.field == "role"
    with pytest.raises(InputError):
        Turn(role="user", text="hi", sentiment=0.3)  # type: ignore[call-arg]


def test_turn_text_length_is_capped() -> None:
    Turn(role="user", text="x" * MAX_TEXT_CHARS)
    with pytest.raises(InputError):
        Turn(role="user", text="x" * (MAX_TEXT_CHARS + 1))


def test_confidence_is_a_probability() -> None:
    with pytest.raises(InputError):
        Turn(role="bot", intent="x", confidence=1.5)


def test_label_turn_must_index_turns() -> None:
    turns = [Turn(role="user", text="a"), Turn(role="bot", text="b")]
    Conversation(id="c", turns=turns, label={"escalate": True, "turn": 1})
    with pytest.raises(InputError, match=r"label.turn must be an index into turns \(0..1\), got 2"):
        Conversation(id="c", turns=turns, label={"escalate": True, "turn": 2})


def test_conversation_parses_the_interchange_format() -> None:
    c = Conversation.model_validate(
        {
            "id": "c1",
            "customer_id": "u9",
            "turns": [
                {
                    "role": "user",
                    "text": "hi",
                    "timestamp": "2026-05-01T10:00:00Z",
                    "intent": "greet",
                }
            ],
            "label": {"escalate": True, "turn": 0},
        }
    )
    assert c.turns[0].timestamp == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert c.label is not None and c.label.escalate


def test_decision_equality_ignores_diagnostic_signals() -> None:
    a = Decision(conversation_id="c", turn=0, action="continue", signals=Signals(values={"x": 1.0}))
    b = Decision(conversation_id="c", turn=0, action="continue", signals=Signals(values={"x": 2.0}))
    c = Decision(conversation_id="c", turn=0, action="handoff")
    assert a == b
    assert a != c
    assert "signals" not in a.model_dump()


def test_reason_reads_as_a_comparison() -> None:
    r = Reason(
        code="bot-stuck", signal="dialogue.consecutive_fallbacks", op=">=", threshold=2, value=3
    )
    assert str(r) == "bot-stuck: dialogue.consecutive_fallbacks=3 >= 2"
    assert str(Reason(code="on_error", detail="boom")) == "on_error: boom"


def test_timestamps_outside_the_plausible_years_are_refused() -> None:
    import pytest

    from escalate import Engine
    from escalate.errors import InputError
    from escalate.models import Turn

    for stamp in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "1850-06-01T00:00:00Z"):
        with pytest.raises(InputError, match="between the years 1900 and 9000"):
            Turn(role="user", text="hi", timestamp=stamp)  # type: ignore[arg-type]
    engine = Engine.from_policy("dialogue_only", affect=None, history="memory://")
    with pytest.raises(InputError) as caught:
        engine.session("c1").observe(
            {"role": "user", "text": "hi", "timestamp": "0001-01-01T00:00:00+14:00"}
        )
    assert caught.value.field == "timestamp"
    assert Turn(role="user", text="hi", timestamp="2026-05-01T10:00:00Z").timestamp is not None  # type: ignore[arg-type]
