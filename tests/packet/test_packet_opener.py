"""Opening lines: chosen by reason family, emotion and repeat contacts; team templates win."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from escalate.affect.base import AffectScores
from escalate.engine.state import SessionState
from escalate.models import ContactRecord, Reason, Turn
from escalate.packet import DEFAULT_OPENERS, build_packet, reason_families
from escalate.policy import parse_policy

WHEN = datetime(2026, 5, 4, 10, tzinfo=UTC)


def scores(**emotions: float) -> AffectScores:
    negative = 0.8 if emotions else 0.1
    return AffectScores(
        sentiment={"negative": negative, "neutral": 0.9 - negative, "positive": 0.1},
        emotions=emotions,
        human_request=0.0,
    )


def state(*texts: str, affect: AffectScores | None = None) -> SessionState:
    turns: list[Turn] = []
    for text in texts:
        turns.append(Turn(role="user", text=text))
        turns.append(Turn(role="bot", text="Sorry, I didn't understand that.", event="fallback"))
    turns.pop()
    return SessionState(
        conversation_id="c1",
        customer_id="u1",
        turns=tuple(turns),
        user_affect=tuple(affect for _ in texts),
    )


def reason(code: str, signal: str, value: float = 1.0) -> Reason:
    return Reason(code=code, signal=signal, op=">=", threshold=value, value=value)


def contact(day: int) -> ContactRecord:
    return ContactRecord(
        customer_id="u1",
        conversation_id=f"old-{day}",
        started_at=datetime(2026, 5, day, tzinfo=UTC),
        outcome="abandoned",
        topic="refund_status",
    )


def opener(st: SessionState, rule: str, reasons: list[Reason], **kwargs: object) -> str:
    packet = build_packet(
        st, rule=rule, queue="general", priority="high", reasons=reasons, signals={},
        created_at=WHEN, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    assert packet.opener is not None
    return packet.opener


REFUND = "My refund of £89.99 still hasn't arrived after three weeks."


def test_repeat_contact_names_the_count_and_the_issue() -> None:
    line = opener(
        state(REFUND, "Get me a person."),
        "repeat-contact",
        [reason("repeat-contact", "history.contacts_same_topic_7d", 2)],
        history=[contact(1), contact(2)],
    )
    assert line.startswith(
        "I can see this is the third time you've contacted us about your refund of £89.99"
    )
    assert "I'll sort this out now" in line


def test_repeat_contact_when_distressed() -> None:
    line = opener(
        state("I'm scared, my rent money was in that refund."),
        "vulnerable",
        [reason("vulnerable", "mood.distress", 0.9)],
        history=[contact(1)],
    )
    assert line.startswith(
        "I can see this is the second time you've been in touch about your refund"
    )
    assert "stay with you" in line


def test_asked_for_human_is_calm_and_names_the_issue() -> None:
    line = opener(
        state("I was charged twice for my subscription", "Can I speak to a real person?"),
        "explicit_request",
        [reason("explicit_request", "dialogue.asked_for_human")],
    )
    assert line.startswith(
        "Thanks for waiting. I have everything you've told us about the double charge"
    )


def test_bot_stuck_and_frustrated() -> None:
    line = opener(
        state("I want to change the delivery address on my parcel", "This is useless!",
              affect=scores(anger=0.8, annoyance=0.7)),
        "bot-stuck",
        [reason("bot-stuck", "dialogue.consecutive_fallbacks", 2)],
    )  # fmt: skip
    assert line.startswith("I'm sorry our assistant went round in circles on the delivery address")


def test_bot_stuck_calm() -> None:
    line = opener(
        state("I want to change the delivery address on my parcel", "Change my address"),
        "bot-stuck",
        [reason("bot-stuck", "dialogue.consecutive_fallbacks", 2)],
    )
    assert line.startswith("Sorry our assistant couldn't help with the delivery address")


def test_fear_wins_over_a_frustration_rule() -> None:
    line = opener(
        state("Someone has been using my card, there are payments I don't recognise",
              affect=scores(fear=0.8)),
        "rising-frustration",
        [reason("rising-frustration", "trajectory.negative.streak", 2)],
    )  # fmt: skip
    assert line.startswith("I'm here to help with the payments you don't recognise")


def test_frustration_rule() -> None:
    line = opener(
        state(REFUND, "It has been THREE WEEKS."),
        "angry",
        [reason("angry", "mood.frustration", 0.8)],
    )
    assert line.startswith("You shouldn't have had to chase your refund of £89.99")


def test_no_generic_empathy_and_every_default_takes_ownership() -> None:
    for template in DEFAULT_OPENERS:
        assert "understand your frustration" not in template.text.lower()
        assert "I'll" in template.text or "I'm" in template.text


def test_without_text_there_is_still_a_line() -> None:
    st = SessionState(
        conversation_id="c1",
        turns=(Turn(role="user", intent="inform"), Turn(role="user", intent="transfer_agent")),
    )
    line = opener(st, "explicit_request", [reason("explicit_request", "dialogue.asked_for_human")])
    assert "about this" in line


@pytest.mark.parametrize(
    ("rule", "signal", "family"),
    [
        ("explicit_request", "dialogue.asked_for_human", "asked_for_human"),
        ("x", "human_request", "asked_for_human"),
        ("repeat-contact", "history.contacts_7d", "repeat_contact"),
        ("x", "dialogue.user_repeats", "bot_stuck"),
        ("x", "mood.distress", "distress"),
        ("x", "sentiment.negative", "frustration"),
        ("x", "emotion.confusion", "confusion"),
        ("on_error", None, "error"),
        ("x", None, "other"),
    ],
)
def test_reason_families(rule: str, signal: str | None, family: str) -> None:
    reasons = [Reason(code=rule, signal=signal)] if signal else [Reason(code=rule, detail="d")]
    assert family in reason_families(rule, reasons)


TEAM_POLICY = """\
version: 1
rules:
  - id: stuck
    when: dialogue.consecutive_fallbacks >= 2
    then: {action: handoff}
packet:
  openers:
    - when_rule: stuck
      text: "Hello from the Acme team! Let's fix {issue} together — {fallbacks} misses is too many."
    - when_reason: [asked_for_human]
      min_contacts: 2
      text: "Welcome back — contact number {contacts}, about {issue}."
"""


def test_team_templates_replace_the_defaults() -> None:
    policy = parse_policy(TEAM_POLICY, affect=False)
    st = state("I want to change the delivery address on my parcel", "again: change address")
    line = opener(
        st, "stuck", [reason("stuck", "dialogue.consecutive_fallbacks", 2)],
        config=policy.packet,
    )  # fmt: skip
    assert line == (
        "Hello from the Acme team! Let's fix the delivery address together — 1 misses is too many."
    )
    # the second team template needs a repeat contact; without one the defaults apply
    asked = [reason("explicit_request", "dialogue.asked_for_human")]
    first = opener(st, "explicit_request", asked, config=policy.packet)
    assert first.startswith("Thanks for waiting")
    again = opener(st, "explicit_request", asked, config=policy.packet, history=[contact(1)])
    assert again == "Welcome back — contact number 2, about the delivery address."


def test_a_template_whose_slot_is_unknown_here_is_skipped() -> None:
    policy = parse_policy(
        TEAM_POLICY.replace("{fallbacks} misses is too many", "order {order_id}"), affect=False
    )
    st = state("I want to change the delivery address on my parcel")
    line = opener(st, "stuck", [reason("stuck", "dialogue.consecutive_fallbacks", 2)],
                  config=policy.packet)  # fmt: skip
    assert line.startswith("Sorry our assistant couldn't help")
    assert textwrap.dedent(line) == line
