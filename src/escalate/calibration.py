"""Is a score a probability? Reliability, expected calibration error, Platt and
temperature scaling.

A calibrated score of 0.3 means that about 30 % of the cases given 0.3 are positive.
:func:`reliability` bins scores into ``bins`` equal-width bins over [0, 1] (the last bin
includes 1) and compares, per bin, the mean score with the share of positives;
:func:`expected_calibration_error` is the mean absolute gap, weighted by the share of
scores in each bin. Labels may be soft (a share in [0, 1], such as the share of
annotators who judged a turn dissatisfied): a bin's positive rate is then the mean label.
:func:`fit_platt` fits ``sigmoid(a * logit + b)`` to labels (Platt scaling), by Newton's
method with a tiny ridge so that separable data stays finite; :func:`fit_temperature`
fits the one temperature of a softmax (Guo et al., 2017).

Used by the affect model's training (every head is calibrated on dev data) and by
replay's tuning and report; numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Reliability",
    "expected_calibration_error",
    "fit_platt",
    "fit_temperature",
    "reliability",
]

ArrayLike = Sequence[float] | Sequence[bool] | np.ndarray


@dataclass(frozen=True, slots=True)
class Reliability:
    """Per-bin calibration of a score.

    Attributes
    ----------
    edges:
        ``bins + 1`` bin edges over [0, 1].
    count:
        Scores per bin.
    mean_score:
        Mean score per bin (``NaN`` for an empty bin).
    positive_rate:
        Share of positives per bin (``NaN`` for an empty bin).

    Examples
    --------
    >>> r = reliability([0.1, 0.2, 0.9, 0.8], [False, True, True, True], bins=2)
    >>> r.count.tolist(), r.positive_rate.tolist()
    ([2, 2], [0.5, 1.0])
    """

    edges: np.ndarray
    count: np.ndarray
    mean_score: np.ndarray
    positive_rate: np.ndarray


def _check(scores: ArrayLike, labels: ArrayLike, bins: int) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D and alike; got {s.shape} and {y.shape}")
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    if s.size and (np.isnan(s).any() or s.min() < 0.0 or s.max() > 1.0):
        raise ValueError("scores must be probabilities in [0, 1]")
    if y.size and (np.isnan(y).any() or y.min() < 0.0 or y.max() > 1.0):
        raise ValueError("labels must be true/false or shares in [0, 1]")
    return s, y


def reliability(scores: ArrayLike, labels: ArrayLike, bins: int = 10) -> Reliability:
    """Mean score and positive rate in each of ``bins`` equal-width bins."""
    s, y = _check(scores, labels, bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.floor(s * bins).astype(np.int64), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    total = np.bincount(index, weights=s, minlength=bins)
    hits = np.bincount(index, weights=y, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_score = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        positive_rate = np.where(count > 0, hits / np.maximum(count, 1), np.nan)
    return Reliability(edges, count, mean_score, positive_rate)


def expected_calibration_error(scores: ArrayLike, labels: ArrayLike, bins: int = 10) -> float:
    """Mean |mean score - positive rate| over bins, weighted by each bin's share.

    Examples
    --------
    >>> expected_calibration_error([0.25, 0.25, 0.75, 0.75], [False, True, True, True], bins=2)
    0.25
    >>> expected_calibration_error([0.0, 1.0], [False, True])
    0.0
    >>> expected_calibration_error([0.5, 0.5], [0.25, 0.75])   # soft labels
    0.0
    """
    r = reliability(scores, labels, bins)
    n = int(r.count.sum())
    if n == 0:
        return 0.0
    used = r.count > 0
    gaps = np.abs(r.mean_score[used] - r.positive_rate[used])
    return float((gaps * r.count[used]).sum() / n)


def fit_platt(
    logits: ArrayLike, labels: ArrayLike, *, ridge: float = 1e-3, iterations: int = 50
) -> tuple[float, float]:
    """``(a, b)`` such that ``sigmoid(a * logit + b)`` fits the labels (Platt scaling).

    Examples
    --------
    >>> a, b = fit_platt([-2.0, -1.0, 1.0, 2.0, 0.5, -0.5], [0, 0, 1, 1, 0, 1])
    >>> a > 0
    True
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if z.shape != y.shape or z.ndim != 1 or z.size == 0:
        raise ValueError("logits and labels must be 1-D, alike and not empty")
    if not np.isfinite(z).all():
        raise ValueError("logits must be finite")
    centre, spread = float(z.mean()), float(z.std()) or 1.0
    X = np.column_stack([(z - centre) / spread, np.ones_like(z)])
    penalty = np.array([ridge * z.size, 0.0])

    def loss(w: np.ndarray) -> float:
        m = X @ w
        return float(np.logaddexp(0.0, m).sum() - (y * m).sum() + 0.5 * (penalty * w * w).sum())

    w = np.array([1.0, 0.0])
    current = loss(w)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -35.0, 35.0)))
        grad = X.T @ (p - y) + penalty * w
        hess = (X * (p * (1.0 - p))[:, None]).T @ X + np.diag(penalty) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-6:  # backtracking: never let the loss rise
            candidate = w - size * step
            value = loss(candidate)
            if value <= current + 1e-12:
                break
            size /= 2
        else:
            break
        w, current = candidate, value
        if np.abs(size * step).max() < 1e-10:
            break
    a = float(w[0]) / spread
    return a, float(w[1]) - a * centre


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature ``T`` for which ``softmax(logits / T)`` best fits ``targets``.

    ``logits`` is ``(n, k)``; ``targets`` is ``(n, k)`` of probabilities (one-hot or soft).
    Minimises the cross-entropy over ``log T`` by golden-section search on [1/20, 20].

    Examples
    --------
    >>> z = np.array([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [0.0, 4.0]])
    >>> y = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])   # a coin toss
    >>> fit_temperature(z, y) > 5
    True
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if z.ndim != 2 or z.shape != y.shape or z.shape[0] == 0:
        raise ValueError("logits and targets must be (n, k) arrays of the same shape, n > 0")

    def loss(log_t: float) -> float:
        scaled = z / np.exp(log_t)
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_p = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        return float(-(y * log_p).sum())

    lo, hi = float(np.log(1 / 20)), float(np.log(20))
    ratio = (np.sqrt(5.0) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = loss(b)
    return float(np.exp((lo + hi) / 2))
