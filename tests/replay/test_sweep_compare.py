from pathlib import Path

import pytest
from tests.replay.conversations import corpus

from escalate.policy import load_policy, parse_policy
from escalate.replay.compare import compare, metric_deltas
from escalate.replay.metrics import compute_metrics
from escalate.replay.readers import Record
from escalate.replay.runner import Runner, collect
from escalate.replay.sweep import (
    default_target,
    policy_variant,
    simulate,
    sweep,
    sweep_values,
    thresholds,
)


def test_thresholds_and_variants() -> None:
    policy = load_policy("dialogue_only", affect=False)
    looping = next(r for r in policy.rules if r.id == "looping")
    found = thresholds(looping)
    assert [(t.signal, t.value) for t in found] == [
        ("dialogue.user_repeats", 2.0),
        ("dialogue.bot_repeats", 2.0),
    ]
    with pytest.raises(ValueError, match="2 thresholds"):
        policy_variant(policy, "looping", 3)
    variant = policy_variant(policy, "looping", 3, signal="dialogue.bot_repeats")
    new = next(r for r in variant.rules if r.id == "looping")
    assert new.expression.source == "dialogue.user_repeats >= 2 or dialogue.bot_repeats >= 3"
    assert looping.expression.source.endswith(">= 2")  # the original is untouched
    with pytest.raises(ValueError, match="no enabled rule"):
        policy_variant(policy, "nope", 1)


def test_threshold_on_the_left_and_chained() -> None:
    policy = parse_policy(
        "version: 1\nrules:\n  - id: r\n    when: 0.2 <= sentiment.negative < 0.9\n"
        "    then: {action: handoff}\n"
    )
    rule = policy.rules[0]
    assert [t.value for t in thresholds(rule)] == [0.2, 0.9]
    v = policy_variant(policy, "r", 0.5, signal="sentiment.negative", occurrence=1)
    assert v.rules[0].expression.source == "0.2 <= sentiment.negative < 0.5"


def test_a_negative_threshold_is_found_and_replaced_with_its_sign() -> None:
    policy = parse_policy(
        "version: 1\nrules:\n  - id: r\n    when: trajectory.dissatisfaction.slope >= -0.2\n"
        "    then: {action: handoff}\n"
    )
    (found,) = thresholds(policy.rules[0])
    assert (found.signal, found.value) == ("trajectory.dissatisfaction.slope", -0.2)
    v = policy_variant(policy, "r", 0.1)
    assert v.rules[0].expression.source == "trajectory.dissatisfaction.slope >= 0.1"


def test_simulate_reproduces_the_engine() -> None:
    data = corpus() * 2
    runner = Runner("dialogue_only", affect=None, workers=1, keep_signals=True)
    results, _ = collect(runner.run(data))
    for result in results:
        again = simulate(runner.policy, result)
        assert [(d.action, d.rule, d.guard) for d in again.decisions] == [
            (d.action, d.rule, d.guard) for d in result.decisions
        ]
    with pytest.raises(ValueError, match="keep_signals"):
        simulate(
            runner.policy, collect(Runner("dialogue_only", affect=None, workers=1).run(data))[0][0]
        )


def test_sweep_matches_full_replays_of_each_variant(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = corpus()
    runner = Runner("dialogue_only", affect=None, workers=1, keep_signals=True)
    results, _ = collect(runner.run(data))
    target, points = sweep(runner.policy, results, "corrected", [1, 2, 3, 4])
    assert target.signal == "dialogue.user_negations"
    for point in points:
        variant = policy_variant(runner.policy, "corrected", point.value)
        text = tmp_path / "v.yaml"
        base = Path(runner.policy.source).read_text()
        text.write_text(
            base.replace(
                "dialogue.user_negations >= 3", f"dialogue.user_negations >= {int(point.value)}"
            )
        )
        full, _ = collect(Runner(str(text), affect=None, workers=1).run(data))
        expected = compute_metrics(full)
        for key in ("escalated", "recall", "precision", "gt_i", "roc_auc", "rules_first"):
            assert point.metrics[key] == expected[key], (point.value, key)
        assert variant.rules[3].expression.source.endswith(str(int(point.value)))
    escalated = [p.metrics["escalated"] for p in points]
    assert escalated == sorted(escalated, reverse=True)


def test_sweep_values_and_default_target() -> None:
    runner = Runner("dialogue_only", affect=None, workers=1, keep_signals=True)
    results, _ = collect(runner.run(corpus()))
    values = sweep_values(results, "dialogue.user_negations", 3)
    assert values == sorted(values) and 3.0 in values and all(v == int(v) for v in values)
    rule, threshold, occurrence = default_target(runner.policy)  # type: ignore[misc]
    assert (rule, threshold.signal, occurrence) == ("asked-again", "dialogue.human_requests", 0)
    never = load_policy("baseline_never", affect=False)
    assert default_target(never) is None


def test_compare_lists_changes_and_deltas() -> None:
    data = corpus()
    result = compare(
        "dialogue_only",
        "baseline_keyword",
        lambda: [Record(i, c) for i, c in enumerate(data, 1)],
        affect=None,
        workers=1,
    )
    changed = {c.id for c in result.changes}
    assert "stuck" in changed and "negates" in changed and "fine" not in changed
    stuck = next(c for c in result.changes if c.id == "stuck")
    assert stuck.a["escalated"] and not stuck.b["escalated"] and stuck.label is True
    assert result.deltas["escalated"] == result.b["escalated"] - result.a["escalated"]
    payload = result.to_dict()
    assert payload["changed"] == len(result.changes) and payload["a"]["policy"] == "dialogue_only"


def test_metric_deltas_skip_non_numbers() -> None:
    a = {"x": 1, "y": None, "z": "s", "costs": {"cost_per_1000": 5.0}}
    b = {"x": 3, "y": 0.5, "z": "t", "costs": {"cost_per_1000": 4.0}}
    assert metric_deltas(a, b) == {"x": 2, "cost_per_1000": -1.0}
