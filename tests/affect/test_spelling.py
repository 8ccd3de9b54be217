"""Typo correction before a message is read for a human request."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from escalate.affect.spelling import MIN_LENGTH, Speller

speller = Speller.shared()


def test_a_word_one_edit_from_a_known_word_is_corrected() -> None:
    assert speller.correct("Transfer me to a hmuan.") == "Transfer me to a human."
    assert speller.correct("Could you get a persin to help me?") == (
        "Could you get a person to help me?"
    )
    assert speller.correct("I'd like to be connected to a representatove.") == (
        "I'd like to be connected to a representative."
    )


def test_case_is_kept() -> None:
    assert speller.correct("HMUAN PLEASE") == "HUMAN PLEASE"
    assert speller.correct("Hmuan please") == "Human please"


def test_acronyms_and_contractions_stay_as_written() -> None:
    # capitals in a message that is not in capitals: an acronym, not a typo
    assert speller.correct("Do you take AMEX? Is it BYOB?") == "Do you take AMEX? Is it BYOB?"
    # "doesn" is no word, but "doesn't" is; "dont" is "don't" without its apostrophe
    for text in ("It doesn't matter", "It doesn\u2019t matter", "I dont want a bot"):
        assert speller.correct(text) == text
    # a correction changes letters only: never an apostrophe in or out
    assert "'" not in speller.correct("theyre wouldnt shouldve")


def test_known_words_short_words_and_unknown_far_words_stay() -> None:
    for text in (
        "Put me through to a person now.",
        "My order 55102 from Siobhan never came",
        "teh cat",  # shorter than MIN_LENGTH
        "xqzvbnmk",  # nothing one edit away
    ):
        assert speller.correct(text) == text


def test_the_shared_speller_is_one_per_process() -> None:
    assert Speller.shared() is speller


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_correction_keeps_everything_but_the_letters_of_unknown_words(text: str) -> None:
    corrected = speller.correct(text)
    words = re.compile(r"[A-Za-z]+")
    assert words.split(corrected) == words.split(text)  # spacing, digits, punctuation
    before, after = words.findall(text), words.findall(corrected)
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        if len(old) < MIN_LENGTH:
            assert new == old
        assert abs(len(new) - len(old)) <= 1
    assert speller.correct(corrected) == corrected  # what it corrects it knows
