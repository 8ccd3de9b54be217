"""A policy's own intent counters: ``dialogue.counters`` and ``dialogue.count.<name>``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalate import Engine
from escalate.errors import PolicyError
from escalate.models import Conversation, Turn
from escalate.policy import load_policy
from escalate.signals.dialogue import DialogueAnalyzer, DialogueConfig, DialogueState

POLICY = """\
version: 1
name: counters
decide_on: [user, bot]
dialogue:
  counters:
    no_slot: [time_unavailable, Slot_Gone]
rules:
  - id: no-slot-again
    on: bot
    when: dialogue.count.no_slot >= 2
    then: {action: offer_human}
"""

MARKS = ["time_unavailable", "TIME_UNAVAILABLE", "slot_gone", "confirm", "greet", None]


@given(st.lists(st.tuples(st.sampled_from(["user", "bot"]), st.sampled_from(MARKS),
                          st.sampled_from(MARKS)), max_size=30))  # fmt: skip
def test_a_counter_counts_the_turns_that_carry_one_of_its_marks(
    turns: list[tuple[str, str | None, str | None]],
) -> None:
    analyzer = DialogueAnalyzer(
        DialogueConfig(counters={"no_slot": ["time_unavailable", "Slot_Gone"]})
    )
    state = DialogueState()
    for role, intent, event in turns:
        state = analyzer.advance(state, Turn(role=role, text="", intent=intent, event=event))  # type: ignore[arg-type]
    expected = sum(
        1
        for _, intent, event in turns
        if {m.lower() for m in (intent, event) if m} & {"time_unavailable", "slot_gone"}
    )
    assert analyzer.signals(state)["dialogue.count.no_slot"] == expected


def test_a_rule_on_the_bots_turn_reads_the_counter(tmp_path: Path) -> None:
    path = tmp_path / "counters.yaml"
    path.write_text(POLICY, encoding="utf-8")
    engine = Engine.from_policy(path, affect=None, history=None)
    conversation = Conversation(
        id="c1",
        turns=[
            Turn(role="user", text="Can I book Tuesday?"),
            Turn(role="bot", intent="time_unavailable"),
            Turn(role="user", text="Wednesday then"),
            Turn(role="bot", event="slot_gone"),
        ],
    )
    [(_, decisions)] = list(engine.decide_many([conversation]))
    assert [(d.role, d.action, d.rule) for d in decisions] == [
        ("user", "continue", None),
        ("bot", "continue", None),
        ("user", "continue", None),
        ("bot", "offer_human", "no-slot-again"),
    ]


def test_a_counter_not_declared_is_an_unknown_signal(tmp_path: Path) -> None:
    path = tmp_path / "undeclared.yaml"
    path.write_text(POLICY.replace("dialogue.count.no_slot", "dialogue.count.no_slots"), "utf-8")
    with pytest.raises(PolicyError, match=r"dialogue\.count\.no_slots"):
        load_policy(path)


@pytest.mark.parametrize("bad", ["No-Slot: [x]", "no_slot: []"])
def test_a_bad_counter_is_refused_with_its_line(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(POLICY.replace("no_slot: [time_unavailable, Slot_Gone]", bad), "utf-8")
    with pytest.raises(PolicyError, match=r"bad\.yaml:5: dialogue -> counters"):
        load_policy(path)
