"""What a replay measures: deflection against escalation, accuracy against labels, cost.

Definitions
-----------
A conversation is **escalated** when any of its decisions involves a person (any action
other than ``continue``: ``offer_human``, ``offer_callback`` or ``handoff``); otherwise it
is **deflected** (contained by the bot). ``escalation_rate`` = escalated / conversations
and ``deflection_rate`` = 1 - ``escalation_rate``.

Rules: ``rules_first`` counts, per conversation, the rule (or guard) of the first
escalating decision; ``rules_all`` counts every escalating decision.

With labels (``label.escalate``), conversation-level: a true positive is a labelled
conversation that was escalated, and so on; ``precision``, ``recall`` and ``f1`` as
usual (``None`` when undefined).

``roc_auc`` ranks conversations by their **escalation score**: per conversation, the
highest over user turns of the highest :meth:`~escalate.policy.Policy.margins` margin of
the rules that involve a person and of the explicit-request guard (see
:func:`~escalate.replay.runner.escalation_score`); ``-inf`` when nothing is known.
Positive means some such condition held. It is the probability that a random positive
conversation scores above a random negative one, ties counting one half (the
Mann-Whitney statistic, computed with average ranks by :func:`roc_auc`).

Timing, on true positives whose label has a ``turn``: ``first escalating user turn -
labelled user turn`` (the labelled turn mapped to the last user turn at or before it,
see :func:`~escalate.replay.runner.label_user_turn`), negative when early; and the same
in turns (index into ``turns``).

GT-I, GT-II and GT-III: "Golden Transfer within Tolerance" (GT-T) of Liu et al., "Time
to Transfer: Predicting and Evaluating Machine-Human Chatting Handoff", AAAI 2021. GT-T
scores each dialogue by whether the predicted transfer lands on the golden transfer
point or within a tolerance of ``T`` utterances before it; GT-I, GT-II and GT-III are
``T = 1, 2, 3``. Here the utterance is the user turn (the unit at which escalate
decides) and, per labelled conversation, the score is

* negative label: 1 when never escalated, else 0;
* positive label with a turn ``g``, first escalation at user turn ``p``: ``1 - lam *
  (g - p) / T`` when ``0 <= g - p < T``, 0 otherwise (late, too early, or never);
  ``lam`` in [0, 1] (default 0) discounts early transfers within the tolerance;

averaged over the conversations scored. Positive conversations without a labelled turn
are left out; with no labelled turn at all the scores are ``None``.

Cost, per conversation: ``bot_per_conversation``, plus ``human_per_handoff`` when
escalated, plus ``missed_escalation`` for a labelled positive that was not escalated;
``cost_per_1000`` is 1,000 times the mean (without labels the missed term is left out).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from escalate.policy.schema import Costs
from escalate.replay.runner import ConversationResult

__all__ = [
    "GT_TOLERANCES",
    "MetricsAccumulator",
    "compute_metrics",
    "gt_score",
    "prf",
    "recall_at_rate",
    "roc_auc",
]

#: Tolerances of GT-I, GT-II and GT-III, in user turns.
GT_TOLERANCES: dict[str, int] = {"gt_i": 1, "gt_ii": 2, "gt_iii": 3}


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the mean of their positions."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    n = len(values)
    ranks = np.empty(n, dtype=np.float64)
    if n == 0:
        return ranks
    change = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [n]))
    mean_rank = (starts + ends + 1) / 2.0  # mean of positions start+1 .. end
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def roc_auc(
    labels: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> float | None:
    """Area under the ROC curve, rank-based, ties counting one half.

    ``None`` when there are no positives or no negatives. Scores may be ``±inf``; NaN
    is not allowed.

    Examples
    --------
    >>> roc_auc([True, False, True, False], [0.9, 0.1, 0.5, 0.5])
    0.875
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape} and {s.shape}")
    if np.isnan(s).any():
        raise ValueError("scores must not be NaN")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _average_ranks(s)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def recall_at_rate(
    labels: Sequence[bool] | np.ndarray, scores: Sequence[float] | np.ndarray, rate: float
) -> float | None:
    """Recall when the ``rate`` share of conversations with the highest scores escalate.

    Ties at the cut are shared out in proportion (the expected recall of a random
    tie-break), so the figure does not depend on input order.

    Examples
    --------
    >>> recall_at_rate([True, False, True, False], [0.9, 0.8, 0.1, 0.0], 0.25)
    0.5
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    if n_pos == 0 or len(y) == 0:
        return None
    k = rate * len(y)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    taken = 0.0
    hits = 0.0
    i = 0
    while i < len(s_sorted) and taken < k:
        j = i
        while j < len(s_sorted) and s_sorted[j] == s_sorted[i]:
            j += 1
        size = j - i
        pos = float(y_sorted[i:j].sum())
        share = min(1.0, (k - taken) / size)
        hits += pos * share
        taken += size * share
        i = j
    return hits / n_pos


def prf(tp: int, fp: int, fn: int) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1; each ``None`` when its denominator is zero.

    Examples
    --------
    >>> [round(x, 3) for x in prf(3, 1, 2)]
    [0.75, 0.6, 0.667]
    """
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    if precision is None or recall is None or precision + recall == 0:
        f1 = None if precision is None or recall is None else 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return precision, recall, f1


def gt_score(
    label: bool, golden: int | None, predicted: int | None, tolerance: int, lam: float = 0.0
) -> float | None:
    """One conversation's Golden Transfer within Tolerance score (see the module notes).

    ``golden`` and ``predicted`` are user-turn indices (``predicted`` ``None`` when the
    conversation was never escalated). ``None`` for a positive without a golden turn.

    Examples
    --------
    >>> gt_score(True, 4, 4, 1), gt_score(True, 4, 3, 1), gt_score(True, 4, 3, 2)
    (1.0, 0.0, 1.0)
    >>> gt_score(True, 4, 5, 3), gt_score(False, None, None, 1), gt_score(True, 4, 2, 3, lam=0.5)
    (0.0, 1.0, 0.6666666666666667)
    """
    if tolerance < 1:
        raise ValueError(f"tolerance must be at least 1, got {tolerance!r}")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam!r}")
    if not label:
        return 1.0 if predicted is None else 0.0
    if golden is None:
        return None
    if predicted is None:
        return 0.0
    early = golden - predicted
    if 0 <= early < tolerance:
        return 1.0 - lam * early / tolerance
    return 0.0


class MetricsAccumulator:
    """Metrics over a stream of replayed conversations, in bounded memory.

    Memory grows with two floats per conversation (label and score, for ROC-AUC) and a
    counter per distinct value otherwise.

    Accumulators merge exactly (:meth:`merge`): every figure is a count, a counter of
    values or the list of (label, score) pairs, so the metrics of a replay cut into
    shards, replayed anywhere and merged in any order equal those of one pass, to the
    last bit (the exact rank-based ROC-AUC included; GT-T sums are taken with
    :func:`math.fsum` over counted values).

    Parameters
    ----------
    costs:
        The cost model; without one, costs are left out.
    gt_lambda:
        The early-transfer discount of GT-T (0 gives full credit within the tolerance).

    Examples
    --------
    >>> from escalate.replay.runner import ConversationResult, TurnOutcome
    >>> acc = MetricsAccumulator()
    >>> acc.add(ConversationResult("c1", 1, 2, (TurnOutcome(0, "handoff", rule="r", score=1.0),)))
    >>> acc.add(ConversationResult("c2", 2, 2, (TurnOutcome(0, "continue", score=-0.5),)))
    >>> m = acc.result()
    >>> m["conversations"], m["escalation_rate"], m["deflection_rate"], m["rules_first"]
    (2, 0.5, 0.5, {'r': 1})
    """

    def __init__(self, *, costs: Costs | None = None, gt_lambda: float = 0.0) -> None:
        self.costs = costs
        self.gt_lambda = gt_lambda
        self.conversations = 0
        self.rejected = 0
        self.turns = 0
        self.user_turns = 0
        self.escalated = 0
        self.first_action: Counter[str] = Counter()
        self.rules_first: Counter[str] = Counter()
        self.rules_all: Counter[str] = Counter()
        self.labels: list[bool] = []
        self.scores: list[float] = []
        self.tp = self.fp = self.fn = self.tn = 0
        self.delta_user_turns: Counter[int] = Counter()
        self.delta_turns: Counter[int] = Counter()
        self.gt_values: dict[str, Counter[float]] = {k: Counter() for k in GT_TOLERANCES}
        self.gt_count = 0
        self.gt_positive_with_turn = 0

    def add_rejected(self, count: int = 1) -> None:
        """Count records that could not be read."""
        self.rejected += count

    def add(self, result: ConversationResult) -> None:
        """Add one replayed conversation."""
        self.conversations += 1
        self.turns += result.turns
        self.user_turns += result.user_turns
        first = result.first_escalation
        escalated = first is not None
        if first is not None:
            self.escalated += 1
            self.first_action[first.action] += 1
            self.rules_first[first.rule or "(none)"] += 1
        for rule in result.all_rules:
            self.rules_all[rule] += 1
        label = result.label
        if label is None:
            return
        positive = label.escalate
        score = result.score
        self.labels.append(positive)
        self.scores.append(score if not math.isnan(score) else -math.inf)
        if positive and escalated:
            self.tp += 1
        elif positive:
            self.fn += 1
        elif escalated:
            self.fp += 1
        else:
            self.tn += 1
        predicted = result.first_escalation_user_turn
        golden = result.label_user_turn
        if positive and escalated and golden is not None and first is not None:
            assert predicted is not None and label.turn is not None
            self.delta_user_turns[predicted - golden] += 1
            self.delta_turns[first.turn - label.turn] += 1
        if positive and golden is None:
            return
        if positive:
            self.gt_positive_with_turn += 1
        self.gt_count += 1
        for key, tolerance in GT_TOLERANCES.items():
            value = gt_score(positive, golden, predicted, tolerance, self.gt_lambda)
            assert value is not None
            self.gt_values[key][value] += 1

    def update(self, results: Iterable[ConversationResult]) -> MetricsAccumulator:
        """Add many conversations; returns ``self``."""
        for result in results:
            self.add(result)
        return self

    def merge(self, other: MetricsAccumulator) -> MetricsAccumulator:
        """Add what ``other`` counted (another shard of the same replay); returns ``self``.

        Examples
        --------
        >>> from escalate.replay.runner import ConversationResult, TurnOutcome
        >>> a, b = MetricsAccumulator(), MetricsAccumulator()
        >>> a.add(ConversationResult("c1", 1, 2, (TurnOutcome(0, "handoff", rule="r"),)))
        >>> b.add(ConversationResult("c2", 2, 2, (TurnOutcome(0, "continue"),)))
        >>> a.merge(b).result()["escalation_rate"]
        0.5
        """
        if other.gt_lambda != self.gt_lambda:
            raise ValueError(f"cannot merge gt_lambda {other.gt_lambda} into {self.gt_lambda}")
        for name in (
            "conversations",
            "rejected",
            "turns",
            "user_turns",
            "escalated",
            "tp",
            "fp",
            "fn",
            "tn",
            "gt_count",
            "gt_positive_with_turn",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for counter in ("first_action", "rules_first", "rules_all"):
            getattr(self, counter).update(getattr(other, counter))
        self.delta_user_turns.update(other.delta_user_turns)
        self.delta_turns.update(other.delta_turns)
        for key, values in other.gt_values.items():
            self.gt_values[key].update(values)
        self.labels.extend(other.labels)
        self.scores.extend(other.scores)
        return self

    def _gt_sum(self, key: str) -> float:
        return math.fsum(value * count for value, count in sorted(self.gt_values[key].items()))

    def result(self) -> dict[str, Any]:
        """The metrics as a JSON-ready mapping (see the module notes for definitions)."""
        n = self.conversations
        rate = self.escalated / n if n else None
        out: dict[str, Any] = {
            "conversations": n,
            "rejected": self.rejected,
            "turns": self.turns,
            "user_turns": self.user_turns,
            "escalated": self.escalated,
            "deflected": n - self.escalated,
            "escalation_rate": rate,
            "deflection_rate": None if rate is None else 1.0 - rate,
            "first_action": dict(sorted(self.first_action.items())),
            "rules_first": _by_count(self.rules_first),
            "rules_all": _by_count(self.rules_all),
            "labelled": len(self.labels),
        }
        if self.labels:
            precision, recall, f1 = prf(self.tp, self.fp, self.fn)
            positives = self.tp + self.fn
            gt_ok = self.gt_positive_with_turn > 0 and self.gt_count > 0
            out.update(
                {
                    "positives": positives,
                    "confusion": {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn},
                    "precision": precision,
                    "recall": recall,
                    "f1": f1,
                    "roc_auc": roc_auc(self.labels, self.scores),
                    **{
                        key: (self._gt_sum(key) / self.gt_count if gt_ok else None)
                        for key in GT_TOLERANCES
                    },
                    "gt_conversations": self.gt_count if gt_ok else 0,
                    "timing": _timing(self.delta_user_turns, self.delta_turns),
                }
            )
        else:
            out.update(
                {
                    "precision": None,
                    "recall": None,
                    "f1": None,
                    "roc_auc": None,
                    "gt_i": None,
                    "gt_ii": None,
                    "gt_iii": None,
                }
            )
        if self.costs is not None and n:
            c = self.costs
            total = c.bot_per_conversation * n + c.human_per_handoff * self.escalated
            if self.labels:
                total += c.missed_escalation * self.fn
            out["costs"] = {
                **c.model_dump(),
                "missed_counted": bool(self.labels),
                "cost_per_1000": 1000.0 * total / n,
            }
        return out


def _by_count(counter: Counter[str]) -> dict[str, int]:
    """Most frequent first, ties by name: the same mapping whatever the order of adding."""
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def _timing(by_user_turn: Counter[int], by_turn: Counter[int]) -> dict[str, Any]:
    count = sum(by_user_turn.values())
    if not count:
        return {"count": 0}
    deltas = np.repeat(
        np.array(list(by_user_turn.keys()), dtype=np.float64),
        np.array(list(by_user_turn.values())),
    )
    turn_deltas = np.repeat(
        np.array(list(by_turn.keys()), dtype=np.float64), np.array(list(by_turn.values()))
    )
    return {
        "count": count,
        "early": int((deltas < 0).sum()),
        "on_time": int((deltas == 0).sum()),
        "late": int((deltas > 0).sum()),
        "mean_user_turns": float(deltas.mean()),
        "median_user_turns": float(np.median(deltas)),
        "mean_turns": float(turn_deltas.mean()),
        "median_turns": float(np.median(turn_deltas)),
        "histogram_user_turns": {str(k): v for k, v in sorted(by_user_turn.items())},
        "histogram_turns": {str(k): v for k, v in sorted(by_turn.items())},
    }


def compute_metrics(
    results: Iterable[ConversationResult],
    *,
    costs: Costs | None = None,
    rejected: int = 0,
    gt_lambda: float = 0.0,
) -> dict[str, Any]:
    """Metrics of replayed conversations in one call (see :class:`MetricsAccumulator`).

    Examples
    --------
    >>> compute_metrics([])["conversations"]
    0
    """
    acc = MetricsAccumulator(costs=costs, gt_lambda=gt_lambda)
    acc.add_rejected(rejected)
    return acc.update(results).result()
