"""Per-label thresholds chosen on dev: the F1-best threshold, and its bootstrap average."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from escalate.affect.train.evaluate import THRESHOLD_GRID, choose_thresholds, f1_score

probabilities = st.floats(0.0, 1.0, allow_nan=False, width=32)


@st.composite
def dev_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    rows = draw(st.integers(1, 40))
    labels = draw(st.integers(1, 3))
    probs = draw(arrays(np.float32, (rows, labels), elements=probabilities))
    targets = draw(arrays(np.float32, (rows, labels), elements=st.sampled_from([0.0, 1.0])))
    return probs, targets


@settings(max_examples=80)
@given(dev_sets())
def test_the_plain_choice_is_the_lowest_threshold_with_the_best_f1(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    probs, targets = data
    chosen = choose_thresholds(probs, targets, resamples=0)
    for j in range(probs.shape[1]):
        gold = targets[:, j] > 0.5
        if not gold.any():
            assert chosen[j] == 0.5
            continue
        scores = [f1_score(probs[:, j] >= t, gold) for t in THRESHOLD_GRID]
        assert chosen[j] == THRESHOLD_GRID[int(np.argmax(scores))]


@settings(max_examples=40)
@given(dev_sets(), st.integers(0, 2**16))
def test_bootstrap_thresholds_are_reproducible_and_within_the_grid(
    data: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    probs, targets = data
    first = choose_thresholds(probs, targets, resamples=20, seed=seed)
    assert np.array_equal(first, choose_thresholds(probs, targets, resamples=20, seed=seed))
    assert np.all(first >= THRESHOLD_GRID[0]) and np.all(first <= THRESHOLD_GRID[-1])
