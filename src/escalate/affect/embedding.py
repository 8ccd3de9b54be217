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
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["HashingEmbedder", "TextEmbedder", "cosine_matrix"]

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
