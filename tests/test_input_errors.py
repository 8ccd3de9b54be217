"""Every invalid input through the public API raises escalate's InputError, naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import escalate
from escalate import InputError

WHEN = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: escalate.Turn(role="customer", text="hi"), "role"),
        (lambda: escalate.Turn(role="user", text="hi", sentiment=0.3), "sentiment"),
        (lambda: escalate.Turn(role="bot", intent="x", confidence=1.5), "confidence"),
        (lambda: escalate.Turn(role="user", text="x" * 20_001), "text"),
        (
            lambda: escalate.Conversation(id="c", turns=[{"role": "nobody", "text": "a"}]),
            "turns.0.role",
        ),
        (lambda: escalate.Conversation(id="", turns=[{"role": "user", "text": "a"}]), "id"),
        (lambda: escalate.Conversation(id="c", turns=[]), "turns"),
        (lambda: escalate.Label(escalate="perhaps"), "escalate"),
        (lambda: escalate.Label(escalate=True, turn=-1), "turn"),
        (
            lambda: escalate.ContactRecord(
                customer_id="u", conversation_id="c", started_at=WHEN, outcome="lost"
            ),
            "outcome",
        ),
        (
            lambda: escalate.ContactRecord(
                customer_id="u", conversation_id="c", outcome="resolved"
            ),
            "started_at",
        ),
    ],
)
def test_models_raise_input_error_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(InputError) as info:
        build()
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value, ValueError)  # code that caught ValueError still does


def test_a_model_level_problem_is_explained() -> None:
    with pytest.raises(InputError, match="an intent or an event"):
        escalate.Turn(role="user")
    turns = [escalate.Turn(role="user", text="a")]
    with pytest.raises(InputError, match=r"label.turn must be an index into turns \(0..0\)"):
        escalate.Conversation(id="c", turns=turns, label={"escalate": True, "turn": 3})


def test_several_problems_are_counted() -> None:
    with pytest.raises(InputError, match=r"and 1 more problem\)"):
        escalate.Turn(role="customer", text="hi", confidence=3)


def engine() -> escalate.Engine:
    return escalate.Engine.from_policy("dialogue_only", affect=None, history="memory://")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda e: e.session(""), "conversation_id"),
        (lambda e: e.session("c" * 201), "conversation_id"),
        (lambda e: e.session("c", customer_id=42), "customer_id"),
        (lambda e: e.session("c", customer_id=""), "customer_id"),
        (lambda e: e.session("c", channel=""), "channel"),
        (lambda e: e.session("c", customer={"tier": "gold"}), "customer.tier"),
        (lambda e: e.session("c").observe({"role": "user"}), None),
        (lambda e: e.session("c").observe({"role": "boss", "text": "x"}), "role"),
        (lambda e: e.session("c").observe("hello"), "turn"),
        (lambda e: e.session("c").end(outcome="lost"), "outcome"),
        (lambda e: e.decide({"id": "c"}), "conversation"),
        (lambda e: list(e.decide_many([], batch_size=0)), "batch_size"),
        (lambda e: e.decide(CONVERSATION, record=True), "history"),
    ],
)
def test_engine_and_session_arguments_raise_input_error(call: Any, field: str | None) -> None:
    with pytest.raises(InputError) as info:
        call(engine())
    assert info.value.field == field


CONVERSATION = escalate.Conversation(id="c", turns=[escalate.Turn(role="user", text="hi")])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"policy": 42}, "policy"),
        ({"affect": "shipped"}, "affect"),
        ({"history": 42}, "history"),
        ({"history": "mongodb://x"}, "history"),
        ({"sessions": "memcached://x"}, "sessions"),
        ({"sessions": 42}, "sessions"),
    ],
)
def test_from_policy_arguments_raise_input_error(kwargs: dict[str, Any], field: str) -> None:
    kwargs.setdefault("policy", "dialogue_only")
    kwargs.setdefault("affect", None)
    with pytest.raises(InputError) as info:
        escalate.Engine.from_policy(**kwargs)
    assert info.value.field == field


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "role": st.sampled_from(["user", "bot", "agent", "system", "customer", "", None, 3]),
            "text": st.one_of(st.none(), st.text(max_size=30), st.integers()),
            "intent": st.one_of(st.none(), st.text(max_size=5), st.lists(st.integers())),
            "event": st.one_of(st.none(), st.just("fallback"), st.floats()),
            "confidence": st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=3)),
            "timestamp": st.one_of(st.none(), st.just("2026-05-01T10:00:00Z"), st.text(max_size=5)),
            "metadata": st.one_of(st.just({}), st.integers()),
            "mood": st.integers(),
        },
    )
)
def test_a_turn_is_built_or_refused_with_input_error(fields: dict[str, Any]) -> None:
    try:
        turn = escalate.Turn(**fields)
    except InputError as exc:
        assert exc.field is None or exc.field.split(".")[0] in {*fields, "role"}
    else:
        assert turn.role in ("user", "bot", "agent", "system")
