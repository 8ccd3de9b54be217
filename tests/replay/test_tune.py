"""Tuning a score on labelled history, and the calibration helpers."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from escalate.cli.tune import tune as tune_command
from escalate.engine import Engine
from escalate.models import Conversation, Turn
from escalate.policy import load_policy, parse_policy
from escalate.replay.calibration import (
    expected_calibration_error,
    fit_platt,
    reliability,
    reliability_figure,
)
from escalate.replay.features import TurnFeatures, extract_features
from escalate.replay.tune import TuneError, fit_score, hard_rules, tuned_policy_text

WORDS = ["order", "refund", "parcel", "address", "invoice", "account", "delivery", "card"]


def synthetic(n: int = 160, seed: int = 1) -> list[Conversation]:
    """Conversations whose fallbacks drive the label: a bad conversation makes the bot fail."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        bad = rng.random() < 0.3
        turns: list[Turn] = []
        label_turn = None
        for u in range(rng.randint(3, 6)):
            words = " ".join(rng.sample(WORDS, 3))
            turns.append(Turn(role="user", text=f"{words} number {i} {u}"))
            fails = rng.random() < (0.7 if bad and u >= 1 else 0.1)
            if bad and u >= 1 and label_turn is None:
                label_turn = len(turns) - 1
            turns.append(
                Turn(role="bot", event="fallback")
                if fails
                else Turn(role="bot", text=f"Here is your {words} {u}")
            )
        if rng.random() < 0.05:
            turns.append(Turn(role="user", text="get me a real person"))
        timed = i % 2 == 0
        out.append(
            Conversation(
                id=f"c{i}",
                turns=turns,
                label={"escalate": bad, "turn": label_turn if timed else None},
            )
        )
    return out


@pytest.fixture(scope="module")
def features() -> TurnFeatures:
    engine = Engine.from_policy("dialogue_only", affect=None, history="memory://")
    return extract_features(synthetic(), engine)


def test_features_are_per_user_turn(features: TurnFeatures) -> None:
    assert features.conversations == 160
    assert features.values.shape == (len(features.conversation), len(features.names))
    assert "dialogue.fallbacks" in features.names
    # no look-ahead: the first user turn has seen no fallback yet
    first = features.user_turn == 0
    assert np.all(features.column("dialogue.fallbacks")[first] == 0)


def test_features_round_trip(features: TurnFeatures, tmp_path: Path) -> None:
    loaded = TurnFeatures.load(features.save(tmp_path / "f.npz"))
    assert loaded.names == features.names and loaded.ids == features.ids
    assert np.array_equal(np.isnan(loaded.values), np.isnan(features.values))


def test_fit_recovers_a_useful_calibrated_model(features: TurnFeatures) -> None:
    base = load_policy("dialogue_only", affect=False)
    tuned = fit_score(features, base=base, target_rate=0.3, folds=4, seed=0)
    assert tuned.cv.roc_auc is not None and tuned.cv.roc_auc > 0.8
    assert len(tuned.spec.weights) <= 12
    assert any("fallback" in n or "failures" in n for n in list(tuned.spec.weights)[:3])
    assert tuned.cv.escalation_rate <= 0.3 + 1e-9
    assert 0.0 < tuned.threshold <= 1.0
    assert tuned.cv.ece < 0.15


def test_written_policy_reloads_with_hard_rules_first(features: TurnFeatures) -> None:
    base = load_policy("dialogue_only", affect=False)
    tuned = fit_score(features, base=base, folds=3, seed=0)
    text = tuned_policy_text(tuned, base)
    assert text.startswith("# ")
    policy = parse_policy(text, affect=False)
    ids = [r.id for r in policy.rules]
    assert ids == ["asked-again", "learned"]
    assert policy.explicit_request is not None
    assert policy.rules[-1].expression.source.startswith("score.escalation >= ")
    # the written score computes what the model says: a failing conversation scores higher
    good = {"dialogue.fallbacks": 0, "dialogue.failures": 0, "dialogue.consecutive_fallbacks": 0}
    bad = {"dialogue.fallbacks": 3, "dialogue.failures": 3, "dialogue.consecutive_fallbacks": 3}
    margins = [policy.margins(v)["learned"] for v in (good, bad)]
    assert margins[0] is not None and margins[1] is not None and margins[1] > margins[0]


def test_a_base_that_decides_on_bot_turns_gives_a_score_read_on_every_turn(
    features: TurnFeatures,
) -> None:
    text = (Path(__file__).resolve().parents[2] / "policies" / "dialogue_only.yaml").read_text(
        encoding="utf-8"
    )
    base = parse_policy(
        text.replace("\nrules:", "\ndecide_on: [user, bot]\nrules:", 1), affect=False
    )
    tuned = fit_score(features, base=base, folds=3, seed=0)
    policy = parse_policy(tuned_policy_text(tuned, base), affect=False)
    assert policy.decides_on_bot_turns
    assert policy.rules[-1].id == "learned" and policy.rules[-1].on == "any"
    user_only = parse_policy(
        tuned_policy_text(tuned, load_policy("dialogue_only", affect=False)), affect=False
    )
    assert not user_only.decides_on_bot_turns and user_only.rules[-1].on == "user"


def test_tuning_a_tuned_policy_replaces_its_score(features: TurnFeatures) -> None:
    # phone_bot's score weighs dialogue.human_requests, a signal that makes a rule hard
    base = load_policy("phone_bot", affect=False)
    assert "learned" in [r.id for r in base.rules]
    tuned = fit_score(features, base=base, folds=3, seed=0)
    text = tuned_policy_text(tuned, base, keep=["second-misunderstanding"])
    policy = parse_policy(text, affect=False)
    assert [r.id for r in policy.rules] == ["second-misunderstanding", "learned"]
    assert policy.rules[-1].expression.source == f"score.escalation >= {tuned.threshold:g}"


def test_deterministic_given_the_seed(features: TurnFeatures) -> None:
    a = fit_score(features, folds=3, seed=7)
    b = fit_score(features, folds=3, seed=7)
    assert a.spec == b.spec and a.threshold == b.threshold
    assert a.cv.as_dict() == b.cv.as_dict()


def test_targets(features: TurnFeatures) -> None:
    from escalate.policy.schema import Costs

    high = fit_score(features, folds=3, target_recall=0.9)
    assert high.cv.recall is not None and high.cv.recall >= 0.9
    cheap = fit_score(features, folds=3, costs=Costs(human_per_handoff=1, missed_escalation=20))
    assert cheap.cv.recall is not None and cheap.cv.recall > 0.5
    with pytest.raises(ValueError, match="at most one"):
        fit_score(features, target_rate=0.1, target_recall=0.5)


def test_refuses_too_little_data(features: TurnFeatures) -> None:
    with pytest.raises(TuneError, match="too little labelled data"):
        fit_score(features.subset(np.arange(40)))
    positives = np.flatnonzero(features.labels)[:5]
    negatives = np.flatnonzero(~features.labels)[:100]
    with pytest.raises(TuneError, match="5 that needed a person"):
        fit_score(features.subset(np.concatenate([positives, negatives])))


def test_hard_rule_classification() -> None:
    assert [r.id for r in hard_rules(load_policy("default"))] == [
        "distressed",
        "repeat-contact",
        "unresolved-returning",
    ]
    kept = hard_rules(load_policy("default"), keep=["bot-stuck"], drop=["distressed"])
    assert [r.id for r in kept] == ["repeat-contact", "unresolved-returning", "bot-stuck"]


def test_cli_writes_a_policy_and_refuses_small_data(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(tune_command)
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(c.model_dump_json(exclude_none=True) for c in synthetic(120)))
    out = tmp_path / "tuned.yaml"
    figures = tmp_path / "cv.json"
    result = CliRunner().invoke(
        app,
        [
            str(data),
            "--policy",
            "dialogue_only",
            "--no-affect",
            "--out",
            str(out),
            "--target-rate",
            "0.2",
            "--folds",
            "3",
            "--json",
            str(figures),
        ],
    )
    assert result.exit_code == 0, result.output
    assert load_policy(out, affect=False).rules[-1].id == "learned"
    assert json.loads(figures.read_text())["roc_auc"] > 0.7
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(c.model_dump_json(exclude_none=True) for c in synthetic(20)))
    result = CliRunner().invoke(
        app,
        [str(small), "--policy", "dialogue_only", "--no-affect", "--out", str(tmp_path / "x.yaml")],
    )
    assert result.exit_code == 2
    assert "too little labelled data" in result.output


# ---------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------


def test_ece_by_hand() -> None:
    # bin [0, .5): mean .2, rate 0 -> gap .2 (2 scores); bin [.5, 1]: mean .8, rate .5 -> .3 (2)
    assert expected_calibration_error([0.1, 0.3, 0.7, 0.9], [0, 0, 1, 0], bins=2) == pytest.approx(
        0.25
    )
    assert expected_calibration_error([0.5, 0.5], [0, 1], bins=10) == pytest.approx(0.0)
    assert expected_calibration_error([1.0], [1], bins=4) == pytest.approx(0.0)


def test_reliability_bins() -> None:
    r = reliability([0.05, 0.15, 0.95, 1.0], [0, 1, 1, 1], bins=10)
    assert r.count.tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert r.positive_rate[9] == 1.0 and np.isnan(r.mean_score[5])
    with pytest.raises(ValueError):
        reliability([1.5], [1])


def test_platt_recovers_known_scaling() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=20000) * 2
    y = rng.random(20000) < 1 / (1 + np.exp(-(0.5 * z - 1.0)))
    a, b = fit_platt(z, y)
    assert a == pytest.approx(0.5, abs=0.05) and b == pytest.approx(-1.0, abs=0.08)


def test_reliability_figure() -> None:
    from matplotlib.figure import Figure

    fig = reliability_figure([0.1, 0.2, 0.7, 0.9], [0, 0, 1, 1], bins=5)
    assert isinstance(fig, Figure)
    assert "ECE" in fig.axes[0].get_title()
