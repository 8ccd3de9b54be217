"""Is a score a probability? Reliability, expected calibration error and Platt scaling.

A calibrated score of 0.3 means that about 30 % of the conversations given 0.3 needed a
person. :func:`reliability` bins scores into ``bins`` equal-width bins over [0, 1] (the
last bin includes 1) and compares, per bin, the mean score with the share of positives;
:func:`expected_calibration_error` is the mean absolute gap, weighted by the share of
scores in each bin; :func:`reliability_figure` draws the diagram. :func:`fit_platt` fits
``sigmoid(a * logit + b)`` to labels (Platt scaling), by Newton's method with a tiny
ridge so that separable data stays finite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from escalate.policy import Policy
    from escalate.replay.runner import ConversationResult

__all__ = [
    "Reliability",
    "conversation_scores",
    "expected_calibration_error",
    "fit_platt",
    "reliability",
    "reliability_figure",
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
    y = np.asarray(labels, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D and alike; got {s.shape} and {y.shape}")
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    if s.size and (np.isnan(s).any() or s.min() < 0.0 or s.max() > 1.0):
        raise ValueError("scores must be probabilities in [0, 1]")
    return s, y


def reliability(scores: ArrayLike, labels: ArrayLike, bins: int = 10) -> Reliability:
    """Mean score and positive rate in each of ``bins`` equal-width bins."""
    s, y = _check(scores, labels, bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.floor(s * bins).astype(np.int64), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    total = np.bincount(index, weights=s, minlength=bins)
    hits = np.bincount(index, weights=y.astype(np.float64), minlength=bins)
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


def reliability_figure(
    scores: ArrayLike, labels: ArrayLike, bins: int = 10, *, title: str | None = None
) -> Figure:
    """A reliability diagram: positive rate against mean score per bin, with counts.

    Drawn on matplotlib's Agg canvas (no display, no global pyplot state); save it with
    ``fig.savefig("reliability.png")``.

    Examples
    --------
    >>> fig = reliability_figure([0.1, 0.4, 0.8, 0.9], [False, False, True, True], bins=5)
    >>> fig.axes[1].get_xlabel()
    'mean score'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    r = reliability(scores, labels, bins)
    ece = expected_calibration_error(scores, labels, bins)
    fig = Figure(figsize=(5.0, 5.6))
    FigureCanvasAgg(fig)
    ax, hist = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    used = r.count > 0
    ax.plot(r.mean_score[used], r.positive_rate[used], marker="o", color="C0", label="score")
    ax.set_ylabel("share that needed a person")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title or f"Reliability (ECE {ece:.3f})")
    ax.legend(loc="upper left")
    centres = (r.edges[:-1] + r.edges[1:]) / 2
    hist.bar(centres, r.count, width=1.0 / bins, color="C0", alpha=0.6, edgecolor="white")
    hist.set_xlabel("mean score")
    hist.set_ylabel("conversations")
    fig.tight_layout()
    return fig


def conversation_scores(
    policy: Policy, results: Iterable[ConversationResult], score: str = "escalation"
) -> list[float]:
    """Each replayed conversation's highest ``score.<score>`` over its user turns.

    For a reliability diagram of a policy's score on replayed conversations: the results
    must come from a replay with ``keep_signals=True`` (the score's inputs are among the
    signals the policy reads, so they are kept). Raises ``KeyError`` when the policy has
    no such score and ``ValueError`` when signals were not kept.

    Examples
    --------
    >>> from escalate.policy import parse_policy
    >>> from escalate.replay.runner import ConversationResult, TurnOutcome
    >>> p = parse_policy('''
    ... version: 1
    ... scores: {s: {bias: 0, weights: {dialogue.fallbacks: 1}}}
    ... rules: [{id: r, when: score.s >= 0.9, then: {action: handoff}}]
    ... ''')
    >>> r = ConversationResult(id="c", line=1, turns=3, decisions=(
    ...     TurnOutcome(0, "continue", signals={"dialogue.fallbacks": 0}),
    ...     TurnOutcome(2, "continue", signals={"dialogue.fallbacks": 1})))
    >>> [round(x, 3) for x in conversation_scores(p, [r], "s")]
    [0.731]
    """
    from escalate.policy.scores import CompiledScore

    compiled = CompiledScore.from_spec(score, policy.spec.scores[score])
    out = []
    for result in results:
        best = 0.0
        for decision in result.decisions:
            if decision.signals is None:
                raise ValueError(
                    "conversation_scores needs results replayed with keep_signals=True"
                )
            best = max(best, compiled.compute(decision.signals))
        out.append(best)
    return out
