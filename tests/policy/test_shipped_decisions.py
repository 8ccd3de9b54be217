"""What the shipped policies decide, with the shipped model, on conversations written to
show each kind of customer: negativity about the topic never escalates; the need for a
person shows in what the customer says, not only in strong words."""

from __future__ import annotations

import pytest

from escalate import Engine
from escalate.models import Conversation, Turn

AFFECT_POLICIES = ["default", "retail", "financial_services"]


def chat(*texts: str) -> Conversation:
    """Alternating turns, the bot's first when there is an even number of texts."""
    roles = ["bot", "user"] if len(texts) % 2 == 0 else ["user", "bot"]
    turns = [Turn(role=roles[i % 2], text=t) for i, t in enumerate(texts)]  # type: ignore[arg-type]
    return Conversation(id="c", turns=turns)


TOPIC_ONLY = {
    "a horror film": chat(
        "What kind of film would you like tonight?",
        "Not horror. That last film was terrifying, I hate horror.",
        "How about a comedy? 'The Grand Budapest Hotel' is on at 8pm.",
        "Perfect, book two seats please.",
    ),
    "a sad book": chat(
        "Which book are you returning?",
        "The novel about the war. It was so depressing and the ending was awful.",
        "I've started the return. You'll get a label by email.",
        "Great, thanks.",
    ),
    "bad weather": chat(
        "Where would you like to fly?",
        "Somewhere warm, the weather here is miserable and I'm sick of the rain.",
        "Lisbon is 24 degrees this week. Shall I look for flights?",
        "Yes please, next Friday.",
    ),
}

NEEDS_A_PERSON = {
    "bereavement": chat(
        "How can I help you today?",
        "My husband passed away last week and the account is in his name.",
    ),
    "money trouble": chat(
        "How can I help you today?",
        "I've lost my job and I can't pay this month's bill. I don't know what to do.",
    ),
    "a callback": chat(
        "My router keeps dropping the connection.",
        "Have you tried restarting it? Is there anything else I can help with?",
        "Could someone call me back this afternoon about this?",
    ),
    "a request after an interjection": chat(
        "My router keeps dropping the connection.",
        "Have you tried restarting it? Is there anything else I can help with?",
        "Unbelievable. Put me through to a person now.",
    ),
}


def decisions(policy: str, conversation: Conversation) -> list[str]:
    engine = Engine.from_policy(policy, history="memory://")
    return [d.action for d in engine.decide(conversation)]


@pytest.mark.parametrize("policy", AFFECT_POLICIES)
@pytest.mark.parametrize("name", sorted(TOPIC_ONLY))
def test_negativity_about_the_topic_alone_never_escalates(policy: str, name: str) -> None:
    assert set(decisions(policy, TOPIC_ONLY[name])) == {"continue"}


@pytest.mark.parametrize("policy", AFFECT_POLICIES)
@pytest.mark.parametrize("name", sorted(NEEDS_A_PERSON))
def test_a_customer_who_needs_a_person_gets_one(policy: str, name: str) -> None:
    actions = decisions(policy, NEEDS_A_PERSON[name])
    assert actions[-1] != "continue", actions


@pytest.mark.parametrize("policy", ["default", "retail"])
@pytest.mark.parametrize("name", ["bereavement", "money trouble"])
def test_a_vulnerable_customer_is_handed_over_as_such_after_a_greeting(
    policy: str, name: str
) -> None:
    engine = Engine.from_policy(policy, history="memory://")
    last = engine.decide(NEEDS_A_PERSON[name])[-1]
    # (retail offers a callback out of its business hours)
    assert last.rule == "distressed" and last.action in ("handoff", "offer_callback")


LATER = {
    "a bereavement after a task is done": chat(
        "I'd like to update my address.",
        "Done: your address is now 4 Mill Lane. Is there anything else I can help with?",
        "Thanks, that's great.",
        "Is there anything else I can help with?",
        "Yes. My mum passed away last week and I need to close her account.",
    ),
    "hardship in the middle of a booking": chat(
        "I need a plumber for a leaking pipe.",
        "Sure. Which day works for you?",
        "I lost my job last month so I can't afford the callout fee.",
    ),
}


@pytest.mark.parametrize("name", sorted(LATER))
def test_a_vulnerable_customer_later_in_a_conversation_is_handed_over(name: str) -> None:
    engine = Engine.from_policy("default", history="memory://")
    decided = [d for d in engine.decide(LATER[name]) if d.action != "continue"]
    assert [d.rule for d in decided] == ["distressed"]


def test_questions_about_people_are_not_requests() -> None:
    conversation = chat(
        "What would you like to know?",
        "How do I become a customer service agent at your company?",
    )
    assert set(decisions("default", conversation)) == {"continue"}
