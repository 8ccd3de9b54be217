"""Splitting a customer message into the sentences scored for a human request."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalate.affect.segments import MAX_SENTENCES, MIN_WORDS, scored_sentences, sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Unbelievable. Put me through to a person now.",
         ["Unbelievable.", "Put me through to a person now."]),
        ("Where is it?! I paid on Monday", ["Where is it?!", "I paid on Monday"]),
        ("first line\nsecond line\r\n\r\nthird", ["first line", "second line", "third"]),
        ("Please ask Mr. Jones, e.g. via email", ["Please ask Mr. Jones, e.g. via email"]),
        ("The total is 5.99 now", ["The total is 5.99 now"]),
        ("Wait… what?", ["Wait…", "what?"]),
        ("lol I want someone to phone me.", ["lol", "I want someone to phone me."]),
        ("Agent please ugh", ["Agent please", "ugh"]),
        ("Ughhh, agent", ["Ughhh", "agent"]),
        ("Oklahoma is where I live", ["Oklahoma is where I live"]),
        ("ok", ["ok"]),
        ("No. I want a person.", ["No.", "I want a person."]),
        ("... ?! ...", []),
        ("", []),
    ],
)  # fmt: skip
def test_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_only_messages_of_several_sentences_are_split() -> None:
    assert scored_sentences("Get me a person.") == []
    assert scored_sentences("Hi there. Get me a person.") == ["Hi there.", "Get me a person."]


def test_a_sentence_of_one_word_is_not_scored_alone() -> None:
    assert scored_sentences("Please. I'd like to upgrade my plan.") == [
        "I'd like to upgrade my plan."
    ]
    assert scored_sentences("Can I change my flight date? Please.") == [
        "Can I change my flight date?"
    ]
    assert scored_sentences("ugh. Seriously!") == []


def test_long_messages_keep_their_first_and_last_sentences() -> None:
    text = " ".join(f"Sentence {i}." for i in range(10))
    assert scored_sentences(text) == ["Sentence 0.", "Sentence 1.", "Sentence 8.", "Sentence 9."]
    assert scored_sentences(text, limit=3) == ["Sentence 0.", "Sentence 1.", "Sentence 9."]
    assert scored_sentences(text, limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        scored_sentences(text, limit=-1)


@given(st.text(max_size=300))
def test_sentences_are_ordered_stripped_pieces_of_the_text(text: str) -> None:
    found = sentences(text)
    position = 0
    for sentence in found:
        assert sentence == sentence.strip() and re.search(r"\w", sentence)
        at = text.find(sentence, position)
        assert at >= position, (sentence, text)
        position = at + len(sentence)


@given(st.text(max_size=300))
def test_no_word_is_lost(text: str) -> None:
    words = re.findall(r"\w+", text)
    assert re.findall(r"\w+", " ".join(sentences(text))) == words


@given(st.text(max_size=300), st.integers(min_value=0, max_value=8))
def test_scored_sentences_are_a_bounded_subsequence(text: str, limit: int) -> None:
    found = sentences(text)
    scored = scored_sentences(text, limit)
    assert len(scored) <= max(limit, 0)
    assert len(scored) <= MAX_SENTENCES or limit > MAX_SENTENCES
    if len(found) < 2:
        assert scored == []
    assert all(len(re.findall(r"\S*\w\S*", s)) >= MIN_WORDS for s in scored)
    it = iter(found)
    assert all(s in it for s in scored)  # in order, each one of the sentences
