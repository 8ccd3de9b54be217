"""Training examples from rated task dialogues."""

from __future__ import annotations

from escalate.affect.data import UssDialogue, UssTurn
from escalate.affect.train.examples import uss_examples


def test_task_turns_teach_the_request_head_what_is_not_a_request() -> None:
    dialogue = UssDialogue(
        domain="mwoz",
        index=0,
        turns=(
            UssTurn("user", "I need a cheap hotel in the east.", "inform", (3.0, 3.0, 4.0)),
            UssTurn("bot", "The Alpha is cheap. Shall I book it?", "offer"),
            UssTurn(
                "user", "No, I asked for the east. Can someone check?", "deny", (2.0, 1.0, 3.0)
            ),
        ),
    )
    first, second = uss_examples([dialogue])
    assert (first.human_request, first.dissatisfaction, first.distress) == (0.0, 0.0, 0.0)
    # a turn that names a person keeps no request target either way
    assert second.human_request is None
    assert second.bot == "The Alpha is cheap. Shall I book it?"
    assert second.dissatisfaction is not None and second.dissatisfaction > 0.5
