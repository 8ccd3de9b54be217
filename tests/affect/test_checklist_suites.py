"""The behavioural suites: well formed, split in two stable halves, and independent of the
training phrases."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from escalate.affect.base import AffectScores
from escalate.affect.checklist import (
    DIRECTION_PHRASES,
    INVARIANCE_ASIDES,
    SUITES,
    CheckResult,
    load_suite,
    run_checklist,
)
from escalate.affect.phrases import INTERJECTIONS, written_examples
from escalate.affect.train.examples import REPEAT_PHRASES

#: The perturbations the issue of robustness is usually shown with; training and test share
#: only these, every other aside and phrase of the suites is unseen in training.
CANONICAL = {"Unbelievable.", "ugh", "Please.", "for the third time"}


def normalised(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]+", "", text.lower()).strip()


@pytest.mark.parametrize("head", SUITES)
def test_each_suite_has_both_labels_in_both_halves(head: str) -> None:
    items = load_suite(head)
    dev, test = load_suite(head, "dev"), load_suite(head, "test")
    assert len(dev) + len(test) == len(items)
    assert {i.text for i in dev}.isdisjoint({i.text for i in test}) or head == "human_request"
    for part in (dev, test):
        labels = [i.label for i in part]
        assert labels.count(1) >= 40 and labels.count(0) >= 40


def test_minimal_pairs_stay_together() -> None:
    items = load_suite("dissatisfaction")
    pairs: dict[str, set[str]] = {}
    for item in items:
        if item.group != item.text:
            pairs.setdefault(item.group, set()).add(item.part)
    assert len(pairs) >= 20
    assert all(len(parts) == 1 for parts in pairs.values())


def test_suites_share_no_sentence_with_the_training_phrases() -> None:
    trained = {normalised(e.text) for e in written_examples(13)}
    trained |= {normalised(e.bot) for e in written_examples(13) if e.bot}
    for head in SUITES:
        for item in load_suite(head):
            # one- and two-word replies ("yes please") recur; their context decides
            assert normalised(item.text) not in trained or len(item.text.split()) <= 2, item.text


def test_invariance_bases_are_unseen_in_training() -> None:
    import json
    from importlib import resources

    trained = {normalised(e.text) for e in written_examples(13)}
    path = resources.files("escalate.affect.checklist").joinpath("suites", "invariance_bases.jsonl")
    for line in path.read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        assert normalised(text) not in trained or len(text.split()) <= 2, text


def test_perturbations_of_the_suites_are_mostly_unseen_in_training() -> None:
    shared = (set(INVARIANCE_ASIDES) & set(INTERJECTIONS)) | (
        set(DIRECTION_PHRASES) & set(REPEAT_PHRASES)
    )
    assert shared <= CANONICAL


def test_unknown_suite_or_part_is_refused() -> None:
    with pytest.raises(ValueError, match="name must be one of"):
        load_suite("anger")
    with pytest.raises(ValueError, match="part must be"):
        load_suite("distress", "train")  # type: ignore[arg-type]


def test_results_count_failures() -> None:
    result = CheckResult("x", "INV", "human_request", cases=50, failures=1)
    assert result.failure_rate == pytest.approx(0.02)


class WithoutContextHeads:
    """A model that scores sentiment, emotions and requests but has no context heads."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def predict(self, texts: Sequence[str]) -> list[AffectScores]:
        return [
            s.model_copy(update={"dissatisfaction": None, "distress": None})
            for s in self.inner.predict(texts)
        ]


def test_a_model_without_the_heads_is_reported_not_crashed(keyword_affect: object) -> None:
    results = {r.name: r for r in run_checklist(WithoutContextHeads(keyword_affect))}  # type: ignore[arg-type]
    assert results["dissatisfaction: labelled messages"].cases == 0
    assert results["human_request: labelled messages"].cases > 100
