"""Sentence embeddings for matching texts: the same problem told twice, the sentence that
best sums a conversation up.

:class:`TextEmbedder` is the contract. The shipped affect model implements it with its
encoder; :class:`HashingEmbedder` is a model-free stand-in (hashed word and word-pair
counts) for engines without a model, and for tests.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Sequence
from typing import Protocol, TypeGuard, runtime_checkable

import numpy as np

__all__ = [
    "HashingEmbedder",
    "TextEmbedder",
    "can_embed",
    "choose_topic_similarity",
    "cosine_matrix",
    "topic_pairs",
    "topic_similarity_for",
]

_TOKEN = re.compile(r"[a-z0-9]+")


@runtime_checkable
class TextEmbedder(Protocol):
    """Anything that turns texts into L2-normalised vectors (float32, shape ``(n, dim)``)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class HashingEmbedder:
    """Hashed bag of words and word pairs, L2-normalised; no model, fully deterministic.

    Examples
    --------
    >>> e = HashingEmbedder()
    >>> v = e.embed(["my parcel never arrived", "the parcel has not arrived", "reset password"])
    >>> sims = cosine_matrix(v[:1], v[1:])[0]
    >>> bool(sims[0] > sims[1])
    True
    """

    def __init__(self, dim: int = 1024) -> None:
        if dim < 8:
            raise ValueError(f"dim must be an integer >= 8, got {dim!r}")
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _TOKEN.findall(text.lower())
            features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
            for feature in features:
                out[row, zlib.crc32(feature.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        normalised: np.ndarray = out / np.maximum(norms, 1e-12)
        return normalised


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``a`` with every row of ``b`` (rows L2-normalised)."""
    return np.asarray(a @ b.T, dtype=np.float32)


def can_embed(obj: object) -> TypeGuard[TextEmbedder]:
    """Whether ``obj`` can embed texts: it has ``embed``, and does not say it cannot.

    An affect model loaded from a folder without an ``embedding`` output keeps the method
    but sets ``has_embeddings`` to false.

    >>> can_embed(HashingEmbedder()), can_embed(object())
    (True, False)
    """
    return isinstance(obj, TextEmbedder) and bool(getattr(obj, "has_embeddings", True))


def topic_similarity_for(embedder: TextEmbedder) -> float:
    """The cosine similarity from which two texts count as the same problem.

    0.3 for :class:`HashingEmbedder` (shared words); for a model, its own
    ``topic_similarity`` attribute when it has one (the shipped model's was chosen on
    held-out data), else 0.6.

    >>> topic_similarity_for(HashingEmbedder())
    0.3
    """
    if isinstance(embedder, HashingEmbedder):
        return 0.3
    return float(getattr(embedder, "topic_similarity", 0.6))


def topic_pairs(vectors: np.ndarray, topics: Sequence[str], threshold: float) -> dict[str, float]:
    """Precision, recall and F1 of "same topic" over every pair of texts.

    Two texts are called the same topic when the cosine similarity of their (L2-normalised)
    vectors reaches ``threshold``; the truth is whether their ``topics`` are equal.
    """
    sims, same = _pairs(vectors, topics)
    tp, fp, fn = _counts(sims >= threshold, same)
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": _f1(tp, fp, fn),
    }


def choose_topic_similarity(vectors: np.ndarray, topics: Sequence[str]) -> float:
    """The similarity threshold (in steps of 0.01) with the best same-topic F1 over pairs."""
    sims, same = _pairs(vectors, topics)
    best, best_f1 = 0.5, -1.0
    for threshold in np.round(np.arange(0.05, 1.0, 0.01), 2):
        f1 = _f1(*_counts(sims >= threshold, same))
        if f1 > best_f1:
            best, best_f1 = float(threshold), f1
    return best


def _pairs(vectors: np.ndarray, topics: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    upper = np.triu_indices(len(topics), k=1)
    labels = np.asarray(topics)
    sims = (vectors @ vectors.T)[upper]
    same = (labels[:, None] == labels[None, :])[upper]
    return sims, same


def _counts(pred: np.ndarray, same: np.ndarray) -> tuple[float, float, float]:
    """True positives, false positives and false negatives of ``pred`` against ``same``."""
    return float(np.sum(pred & same)), float(np.sum(pred & ~same)), float(np.sum(~pred & same))


def _f1(tp: float, fp: float, fn: float) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
