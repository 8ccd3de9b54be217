"""Perturbations used to train and to test robustness: what they change and what they keep."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from escalate.affect.augment import add_typo, change_case, perturb, with_aside

words = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10), min_size=1, max_size=8
)


@given(words, st.integers(0, 10_000))
def test_a_typo_touches_one_word_and_one_letter(parts: list[str], seed: int) -> None:
    text = " ".join(parts)
    typo = add_typo(text, random.Random(seed))
    before, after = text.split(" "), typo.split(" ")
    assert len(before) == len(after)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) <= 1
    for i in changed:
        assert len(before[i]) >= 4
        assert abs(len(before[i]) - len(after[i])) <= 1


def test_short_words_are_left_alone() -> None:
    assert add_typo("hi yo ok", random.Random(0)) == "hi yo ok"


@given(st.text(min_size=1, max_size=40), st.integers(0, 1000))
def test_a_change_of_case_keeps_the_letters(text: str, seed: int) -> None:
    changed = change_case(text, random.Random(seed))
    assert changed.casefold() == text.casefold() or changed.lower() == text.lower()


def test_an_aside_goes_before_or_after_and_keeps_the_message() -> None:
    rng = random.Random(0)
    assert with_aside("get me a person", "Ugh.", rng, where="before") == "Ugh. Get me a person"
    assert with_aside("get me a person", "ugh", rng, where="before") == "ugh get me a person"
    assert with_aside("get me a person", "Ugh.", rng, where="after") == "get me a person. Ugh."
    assert with_aside("Where is it?", "Hello.", rng, where="after") == "Where is it? Hello."


@given(st.integers(0, 10_000))
def test_perturbations_are_reproducible(seed: int) -> None:
    text = "Can I speak to someone about my broadband bill"
    asides = ["Unbelievable.", "ugh"]
    first = perturb(text, random.Random(seed), asides)
    assert first == perturb(text, random.Random(seed), asides)
    words_before = set(text.lower().split())
    words_after = set(first.lower().replace(".", " ").split())
    # at most one word is misspelt; the rest of the message survives
    assert len(words_before - words_after) <= 1
