"""Calibration of a replayed policy's score: the reliability diagram and each
conversation's highest score.

The math (reliability, expected calibration error, Platt scaling) lives in
:mod:`escalate.calibration`; its names are importable from here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from escalate.calibration import (
    Reliability,
    expected_calibration_error,
    fit_platt,
    reliability,
)

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
