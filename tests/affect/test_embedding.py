"""Embedders and the same-topic measures used to choose and report their threshold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalate.affect.embedding import (
    HashingEmbedder,
    can_embed,
    choose_topic_similarity,
    topic_pairs,
    topic_similarity_for,
)


def clusters(sizes: list[int], spread: float, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Unit vectors around one random centre per topic."""
    rng = np.random.default_rng(seed)
    vectors, topics = [], []
    for k, n in enumerate(sizes):
        centre = rng.normal(size=32)
        for _ in range(n):
            vectors.append(centre / np.linalg.norm(centre) + spread * rng.normal(size=32))
            topics.append(f"t{k}")
    v = np.array(vectors, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True), topics


def test_tight_clusters_are_matched_exactly() -> None:
    vectors, topics = clusters([4, 5, 3], spread=0.01)
    threshold = choose_topic_similarity(vectors, topics)
    assert topic_pairs(vectors, topics, threshold) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_counts_pairs_by_hand() -> None:
    # a, b same topic and similar; c another topic but as similar to a as b is
    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.8, -0.6]], dtype=np.float32)
    m = topic_pairs(vectors, ["x", "x", "y"], 0.7)
    # pairs: (a,b) 0.8 same -> tp; (a,c) 0.8 differ -> fp; (b,c) 0.28 differ -> tn
    assert m["precision"] == 0.5
    assert m["recall"] == 1.0
    assert m["f1"] == pytest.approx(2 / 3)
    assert topic_pairs(vectors, ["x", "x", "y"], 0.9)["recall"] == 0.0


@given(st.lists(st.integers(1, 5), min_size=2, max_size=5), st.integers(0, 10_000))
def test_the_chosen_threshold_is_the_best_on_its_grid(sizes: list[int], seed: int) -> None:
    vectors, topics = clusters(sizes, spread=0.6, seed=seed)
    chosen = choose_topic_similarity(vectors, topics)
    best = topic_pairs(vectors, topics, chosen)["f1"]
    for t in np.round(np.arange(0.05, 1.0, 0.01), 2):
        assert topic_pairs(vectors, topics, float(t))["f1"] <= best + 1e-12


def test_what_can_embed_and_its_threshold() -> None:
    class Model:
        has_embeddings = True
        topic_similarity = 0.42

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts), 2), dtype=np.float32)

    class Headless(Model):
        has_embeddings = False

    assert can_embed(Model()) and not can_embed(Headless()) and not can_embed("text")
    assert topic_similarity_for(Model()) == 0.42
    assert topic_similarity_for(HashingEmbedder()) == 0.3
