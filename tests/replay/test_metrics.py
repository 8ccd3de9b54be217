import math

import pytest

from escalate.models import Label
from escalate.policy.schema import Costs
from escalate.replay.metrics import compute_metrics, gt_score, prf, recall_at_rate, roc_auc
from escalate.replay.runner import ConversationResult, TurnOutcome


def conv(
    cid: str,
    actions: list[str],
    *,
    label: bool | None = None,
    label_turn: int | None = None,
    scores: list[float | None] | None = None,
    rule: str = "r",
) -> ConversationResult:
    scores = scores or [None] * len(actions)
    decisions = tuple(
        TurnOutcome(
            turn=2 * i,
            action=a,
            rule=None if a == "continue" else rule,  # type: ignore[arg-type]
            score=s,
        )
        for i, (a, s) in enumerate(zip(actions, scores, strict=True))
    )
    lab = None if label is None else Label(escalate=label, turn=label_turn)
    user_turn = None if label_turn is None else label_turn // 2
    return ConversationResult(
        cid,
        1,
        2 * len(actions),
        decisions,
        lab,
        user_turn,
        tuple(d.rule for d in decisions if d.rule),
    )


def test_roc_auc_by_hand_with_ties() -> None:
    # positives 0.9, 0.5; negatives 0.5, 0.1: pairs (0.9>0.5, 0.9>0.1, 0.5=0.5 half, 0.5>0.1)
    assert roc_auc([True, True, False, False], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(3.5 / 4)
    assert roc_auc([True, False], [1.0, 1.0]) == 0.5
    assert roc_auc([True, False, False], [-math.inf, -math.inf, -math.inf]) == 0.5
    assert roc_auc([True, False], [math.inf, 0.0]) == 1.0
    assert roc_auc([True, True], [0.1, 0.2]) is None
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([True, False], [math.nan, 0.0])


def test_roc_auc_matches_pairwise_definition() -> None:
    labels = [True, False, True, False, False, True, False]
    scores = [0.3, 0.3, 0.8, 0.1, 0.8, 0.3, 0.0]
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    pairs = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    assert roc_auc(labels, scores) == pytest.approx(pairs / (len(pos) * len(neg)))


def test_precision_recall_f1_by_hand() -> None:
    assert prf(2, 2, 2) == (0.5, 0.5, 0.5)
    assert prf(0, 0, 3) == (None, 0.0, None)
    assert prf(0, 2, 2) == (0.0, 0.0, 0.0)


def test_recall_at_rate_shares_ties() -> None:
    assert recall_at_rate([True, False, True, False], [1, 1, 0, 0], 0.25) == pytest.approx(0.25)
    assert recall_at_rate([True, False, True, False], [1, 0.5, 0.4, 0], 0.5) == 0.5
    assert recall_at_rate([False, False], [1, 0], 0.5) is None


def test_gt_scores_by_hand() -> None:
    # golden user turn 3
    assert [gt_score(True, 3, p, 1) for p in (3, 2, 4, None)] == [1.0, 0.0, 0.0, 0.0]
    assert [gt_score(True, 3, p, 2) for p in (3, 2, 1)] == [1.0, 1.0, 0.0]
    assert [gt_score(True, 3, p, 3) for p in (3, 2, 1, 0, 4)] == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert gt_score(False, None, None, 2) == 1.0 and gt_score(False, None, 0, 2) == 0.0
    assert gt_score(True, None, 1, 1) is None
    assert gt_score(True, 3, 1, 3, lam=0.3) == pytest.approx(0.8)


def test_metrics_by_hand() -> None:
    results = [
        conv("tp-on-time", ["continue", "handoff"], label=True, label_turn=2, scores=[-0.5, 1.0]),
        conv(
            "tp-early",
            ["offer_human", "continue", "continue"],
            label=True,
            label_turn=4,
            scores=[0.2, None, -1.0],
            rule="other",
        ),
        conv("fn", ["continue", "continue"], label=True, label_turn=2, scores=[-0.1, -0.2]),
        conv("fp", ["handoff"], label=False, scores=[0.5]),
        conv("tn", ["continue"], label=False, scores=[-0.3]),
        conv("tn2", ["continue"], label=False),
        conv("unlabelled", ["handoff"]),
    ]
    m = compute_metrics(
        results,
        costs=Costs(bot_per_conversation=1, human_per_handoff=10, missed_escalation=100),
        rejected=2,
    )
    assert (m["conversations"], m["rejected"], m["escalated"]) == (7, 2, 4)
    assert m["turns"] == 2 * (2 + 3 + 2 + 1 + 1 + 1 + 1) and m["user_turns"] == 11
    assert m["escalation_rate"] == pytest.approx(4 / 7)
    assert m["deflection_rate"] == pytest.approx(3 / 7)
    assert m["rules_first"] == {"r": 3, "other": 1}
    assert m["confusion"] == {"tp": 2, "fp": 1, "fn": 1, "tn": 2}
    assert (m["precision"], m["recall"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert m["f1"] == pytest.approx(2 / 3)
    # scores: positives 1.0, 0.2, -0.1; negatives 0.5, -0.3, -inf -> 7 of 9 pairs
    assert m["roc_auc"] == pytest.approx(7 / 9)
    # GT over 6 labelled: tp-on-time 1, tp-early (golden 2, predicted 0) 0/0/1, fn 0, fp 0, tn 1, tn2 1
    assert m["gt_i"] == pytest.approx(3 / 6)
    assert m["gt_ii"] == pytest.approx(3 / 6)
    assert m["gt_iii"] == pytest.approx(4 / 6)
    timing = m["timing"]
    assert (timing["early"], timing["on_time"], timing["late"]) == (1, 1, 0)
    assert timing["histogram_user_turns"] == {"-2": 1, "0": 1}
    assert timing["histogram_turns"] == {"-4": 1, "0": 1}
    # cost: 7 bot + 4 handoffs * 10 + 1 missed * 100 = 147 over 7 conversations
    assert m["costs"]["cost_per_1000"] == pytest.approx(1000 * 147 / 7)


def test_metrics_without_labels_have_the_keys() -> None:
    m = compute_metrics([conv("a", ["continue"])])
    for key in (
        "conversations",
        "turns",
        "escalated",
        "escalation_rate",
        "deflection_rate",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "gt_i",
        "gt_ii",
        "gt_iii",
    ):
        assert key in m
    assert m["roc_auc"] is None and m["deflection_rate"] == 1.0


def test_gt_is_none_without_labelled_turns() -> None:
    m = compute_metrics([conv("p", ["handoff"], label=True), conv("n", ["continue"], label=False)])
    assert m["gt_i"] is None and m["recall"] == 1.0 and m["roc_auc"] == 0.5
