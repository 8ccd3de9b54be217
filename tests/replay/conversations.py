"""Small conversations written for the replay tests (no dataset rows)."""

from __future__ import annotations

from escalate.models import Conversation, Turn


def make(
    cid: str,
    texts: list[str],
    *,
    escalate: bool | None = None,
    turn: int | None = None,
    fallbacks: bool = False,
) -> Conversation:
    """User messages with a bot reply after each (a fallback when ``fallbacks``)."""
    turns: list[Turn] = []
    for text in texts:
        turns.append(Turn(role="user", text=text))
        if fallbacks:
            turns.append(Turn(role="bot", event="fallback"))
        else:
            turns.append(Turn(role="bot", text=f"Here is some help about {text[:10]}."))
    label = None if escalate is None else {"escalate": escalate, "turn": turn}
    return Conversation(id=cid, turns=turns, label=label)


def corpus() -> list[Conversation]:
    """Eight conversations: some ask for a person, some loop, some are fine."""
    return [
        make("fine", ["where is my parcel", "thanks, bye"], escalate=False),
        make("asks", ["hello there", "I want a real person now"], escalate=True, turn=2),
        make(
            "stuck",
            ["change address", "update my address", "hello?"],
            escalate=True,
            turn=2,
            fallbacks=True,
        ),
        make(
            "negates",
            ["no that's wrong", "no that's wrong again", "that's wrong"],
            escalate=True,
            turn=4,
        ),
        make("fine2", ["opening hours?"], escalate=False),
        make("late", ["a", "b", "c", "d", "get me a human"], escalate=True, turn=2),
        make("false-alarm", ["talk to someone about my order"], escalate=False),
        make("nolabel", ["hello"]),
    ]
