"""The fact extractor: every entity type on texts written for these tests, and properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalate.models import Turn
from escalate.packet import FactExtractor, conversation_facts, extract_facts
from escalate.packet.facts import luhn_valid


def found(text: str) -> list[tuple[str, str]]:
    return [(f.type, f.text) for f in extract_facts(text)]


@pytest.mark.parametrize(
    ("text", "kind", "span", "value"),
    [
        ("Where is my order 4481-2231?", "order_id", "4481-2231", "4481-2231"),
        ("order #A1234-99 never came", "order_id", "A1234-99", "A1234-99"),
        (
            "the parcel with tracking number 1Z999AA10123456784",
            "order_id",
            "1Z999AA10123456784",
            "1Z999AA10123456784",
        ),
        ("cancel purchse 00073310 please", "order_id", "00073310", "00073310"),
        ("I can't open invoice INV-20931", "invoice_id", "INV-20931", "INV-20931"),
        ("my bill #70021 is wrong", "invoice_id", "70021", "70021"),
        ("my account number is 99812345", "account_id", "99812345", "99812345"),
        (
            "write to Sam.Lee+shop@mail.example.org",
            "email",
            "Sam.Lee+shop@mail.example.org",
            "sam.lee+shop@mail.example.org",
        ),
        ("call me on +44 7700 900123", "phone", "+44 7700 900123", "+447700900123"),
        ("my mobile is 07700 900456", "phone", "07700 900456", "07700900456"),
        ("I was charged £89.99 twice", "amount", "£89.99", "89.99 GBP"),
        ("they took 1,250.50 EUR from me", "amount", "1,250.50 EUR", "1250.50 EUR"),
        ("a refund of 45 dollars", "amount", "45 dollars", "45 USD"),
        ("it was due on 2026-05-03", "date", "2026-05-03", "2026-05-03"),
        ("delivered on 3rd of May 2026", "date", "3rd of May 2026", "2026-05-03"),
        ("booked for June 14", "date", "June 14", "--06-14"),
        ("Hi, my name is Priya Raman", "person_name", "Priya Raman", "Priya Raman"),
        ("the letter from Mrs. Okafor arrived", "person_name", "Mrs. Okafor", "Mrs. Okafor"),
        ("do you deliver to Rotterdam?", "city", "Rotterdam", "Rotterdam"),
        ("shipping to new zealand", "country", "new zealand", "New Zealand"),
        ("send it to 42 Elm Grove, please", "address", "42 Elm Grove", "42 Elm Grove"),
        ("postcode is SW1A 1AA", "postcode", "SW1A 1AA", "SW1A 1AA"),
        ("zip code 94107", "postcode", "94107", "94107"),
        ("I want to close my platinum account", "account_type", "platinum", "Platinum"),
        ("upgrade me to premium", "account_type", "premium", "Premium"),
    ],
)
def test_each_entity_type(text: str, kind: str, span: str, value: str) -> None:
    facts = [f for f in extract_facts(text, turn=3) if f.type == kind]
    assert facts, found(text)
    fact = facts[0]
    assert (fact.text, fact.value, fact.turn) == (span, value, 3)
    assert text[fact.start : fact.end] == fact.text
    assert 0 < fact.confidence <= 1


@pytest.mark.parametrize(
    "text",
    [
        "Refunds take 5 to 10 working days",
        "let us know if we can help",
        "I have 3 items in my basket",
        "It has been THREE WEEKS",
        "What a nice day",
    ],
)
def test_no_facts_in_plain_text(text: str) -> None:
    assert found(text) == []


def test_an_order_number_is_not_a_phone_number_or_a_date() -> None:
    assert found("order 2026-05-01-7781 and order 07700900123") == [
        ("order_id", "2026-05-01-7781"),
        ("order_id", "07700900123"),
    ]


def test_conversation_facts_keep_the_first_mention_of_user_turns_only() -> None:
    turns = [
        Turn(role="user", text="Order 4481-2231 is late"),
        Turn(role="bot", text="Is your email jo@example.com?"),
        Turn(role="user", text="Yes. Order 4481-2231, and I paid $20"),
    ]
    facts = conversation_facts(turns)
    assert [(f.type, f.value, f.turn) for f in facts] == [
        ("order_id", "4481-2231", 0),
        ("amount", "20 USD", 2),
    ]


def test_custom_gazetteers() -> None:
    extractor = FactExtractor(cities=["Tromsø"], countries=[])
    assert [(f.type, f.value) for f in extractor.extract("ship to Tromsø")] == [("city", "Tromsø")]
    assert extractor.extract("ship to France") == []


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("41x1")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_never_crashes_and_spans_point_at_the_text(text: str) -> None:
    for fact in extract_facts(text):
        assert text[fact.start : fact.end] == fact.text
        assert 0 <= fact.confidence <= 1


_PIECES = st.sampled_from(
    ["order ", "#", "4481-2231", " invoice ", "£", "89.99", " to ", "Toronto", " my name is ",
     "Jane", " ", ".", "+44 7700 900123", " jo@example.com", "\n", "Mr. ", "Smith", "2026-05-03"]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(_PIECES, max_size=25).map("".join))
def test_spans_hold_on_support_like_text(text: str) -> None:
    facts = extract_facts(text)
    spans = [(f.start, f.end) for f in facts]
    assert spans == sorted(spans)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start  # never overlapping
    for fact in facts:
        assert text[fact.start : fact.end] == fact.text
