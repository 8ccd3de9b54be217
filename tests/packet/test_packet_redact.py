"""Redaction: typed placeholders, counts, and no raw email or phone number in the packet."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalate.engine.state import SessionState
from escalate.models import ContactRecord, Reason, Turn
from escalate.packet import PacketConfig, Redactor, build_packet, redact_text, to_bot_framework
from escalate.packet.formats import to_markdown

EMAIL = "jo.bloggs@example.com"
PHONE = "+44 7700 900123"
WHEN = datetime(2026, 5, 4, 10, tzinfo=UTC)


def test_each_kind_has_its_placeholder_and_count() -> None:
    text = (
        f"I'm at {EMAIL}, or {PHONE} / 020 7946 0958. Card 4111 1111 1111 1111, "
        "IBAN GB82 WEST 1234 5698 7654 32. I live at 10 Downing Street, London SW1A 2AA."
    )
    redacted, counts = redact_text(text)
    assert redacted == (
        "I'm at [EMAIL], or [PHONE] / [PHONE]. Card [CARD], IBAN [IBAN]. "
        "I live at [ADDRESS], London [POSTCODE]."
    )
    assert counts == {"email": 1, "phone": 2, "card": 1, "iban": 1, "address": 1, "postcode": 1}


def test_ids_amounts_and_dates_stay() -> None:
    text = "order 113542617735902, invoice 123456789, £89.99 on 2026-05-03"
    assert redact_text(text) == (text, {})


def test_invalid_card_and_iban_checksums_are_left_alone() -> None:
    text = "numbers 4111 1111 1111 1112 and GB00 WEST 1234 5698 7654 32"
    redacted, counts = redact_text(text, types=["card", "iban"])
    assert redacted == text and counts == {}


def test_only_the_chosen_kinds() -> None:
    redacted, counts = redact_text(f"{EMAIL} {PHONE}", types=["email"])
    assert redacted == f"[EMAIL] {PHONE}" and counts == {"email": 1}
    with pytest.raises(ValueError, match="types must be among"):
        Redactor(["passport"])


def test_names_are_redacted_only_when_asked() -> None:
    text = "my name is Priya Raman"
    assert redact_text(text)[0] == text
    assert redact_text(text, types=["person_name"])[0] == "my name is [NAME]"


def _state() -> SessionState:
    return SessionState(
        conversation_id="c1",
        customer_id=EMAIL,
        turns=(
            Turn(role="user", text=f"My email is {EMAIL} and my phone is {PHONE}.",
                 metadata={"contact": {"email": EMAIL, "phones": [PHONE]}}),
            Turn(role="bot", text="Thanks! What's the order number?", intent="ask_order"),
            Turn(role="user", text=f"Order 4481-2231. Call {PHONE} now, a real person please."),
        ),
    )  # fmt: skip


def _packet(redact: bool):  # type: ignore[no-untyped-def]
    history = [
        ContactRecord(customer_id="u1", conversation_id="c0", started_at=WHEN,
                      outcome="abandoned", text=f"reach me at {EMAIL}")
    ]  # fmt: skip
    return build_packet(
        _state(),
        rule="asked-for-human",
        queue="general",
        priority="high",
        reasons=[Reason(code="asked-for-human", detail=f"asked via {EMAIL}")],
        signals={"dialogue.asked_for_human": 1.0},
        created_at=WHEN,
        history=history,
        config=PacketConfig(redact=redact),
    )


def _phone_digits(text: str) -> bool:
    return "7700900123" in re.sub(r"\D", "", text)


def test_no_raw_email_or_phone_anywhere_in_a_redacted_packet() -> None:
    packet = _packet(redact=True)
    for rendered in (
        packet.model_dump_json(),
        json.dumps(to_bot_framework(packet)),
        to_markdown(packet),
    ):
        assert EMAIL not in rendered
        assert "7700 900123" not in rendered and not _phone_digits(rendered)
    assert packet.redacted
    # two turns of transcript text, and the metadata of the first
    assert packet.redactions == {"email": 2, "phone": 3}
    emails = [f for f in packet.facts if f.type == "email"]
    assert emails and emails[0].redacted and emails[0].value == "[EMAIL]"
    assert [f.value for f in packet.facts if f.type == "order_id"] == ["4481-2231"]


def test_without_redaction_everything_stays() -> None:
    packet = _packet(redact=False)
    assert EMAIL in packet.model_dump_json()
    assert not packet.redacted and packet.redactions == {}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["hello ", EMAIL, " ", PHONE, " order 4481-2231 ", "x", ", ", "07700 900456"]
        ),
        max_size=12,
    ).map("".join)
)
def test_redacted_text_never_keeps_an_email_or_phone(text: str) -> None:
    redacted, counts = redact_text(text)
    assert EMAIL not in redacted
    assert "900123" not in redacted and "900456" not in redacted
    assert sum(counts.values()) == redacted.count("[EMAIL]") + redacted.count("[PHONE]")
