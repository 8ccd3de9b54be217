"""The ``scores:`` section: parsing, compiling, computing and load-time problems."""

from __future__ import annotations

import math

import pytest

from escalate.errors import PolicyError
from escalate.policy import parse_policy
from escalate.policy.scores import CompiledScore, ScoredExpression, ScoreSpec, sigmoid

POLICY = """\
version: 1
scores:
  escalation:
    description: hand-made
    bias: -2.0
    weights:
      dialogue.fallbacks: 0.8
      sentiment.negative: 1.5
      dialogue.user_turns: 0.3
    log1p: [dialogue.user_turns]
    clip: {dialogue.fallbacks: [0, 3]}
    fill: {sentiment.negative: 0.2}
rules:
  - id: learned
    when: score.escalation >= 0.5
    then: {action: handoff}
"""


def by_hand(fallbacks: float, negative: float | None, user_turns: float) -> float:
    x_neg = 0.2 if negative is None else negative
    z = -2.0 + 0.8 * min(max(fallbacks, 0), 3) + 1.5 * x_neg + 0.3 * math.log1p(user_turns)
    return 1 / (1 + math.exp(-z))


def test_score_section_parses_and_compiles() -> None:
    policy = parse_policy(POLICY)
    expression = policy.rules[0].expression
    assert isinstance(expression, ScoredExpression)
    assert policy.signal_names == {
        "dialogue.fallbacks",
        "sentiment.negative",
        "dialogue.user_turns",
    }
    assert policy.requires_affect
    assert policy.spec.scores["escalation"].description == "hand-made"


@pytest.mark.parametrize(
    ("fallbacks", "negative", "user_turns"), [(0, 0.1, 1), (2, 0.9, 4), (7, None, 0), (1, 0.0, 9)]
)
def test_score_matches_hand_computation(
    fallbacks: float, negative: float | None, user_turns: float
) -> None:
    policy = parse_policy(POLICY)
    values = {
        "dialogue.fallbacks": fallbacks,
        "sentiment.negative": negative,
        "dialogue.user_turns": user_turns,
    }
    expected = by_hand(fallbacks, negative, user_turns)
    match = policy.evaluate(values)
    assert (match is not None) == (expected >= 0.5)
    margin = policy.margins(values)["learned"]
    assert margin == pytest.approx(expected - 0.5)
    if match is not None:
        assert match.reasons[0].signal == "score.escalation"
        assert match.reasons[0].value == pytest.approx(expected)


def test_unknown_inputs_use_fill_or_zero() -> None:
    score = CompiledScore.from_spec(
        "s",
        ScoreSpec(
            bias=0.0,
            weights={"dialogue.fallbacks": 1.0, "sentiment.negative": 2.0},
            fill={"sentiment.negative": 0.5},
        ),
    )
    assert score.compute({}) == pytest.approx(sigmoid(1.0))
    assert score.compute({"dialogue.fallbacks": float("nan")}) == pytest.approx(sigmoid(1.0))


def test_passed_score_value_is_recomputed() -> None:
    policy = parse_policy(POLICY)
    assert policy.evaluate({"score.escalation": 0.99}) is None


def test_explicit_request_may_read_a_score() -> None:
    text = (
        POLICY + "guards:\n  explicit_request:\n    when: score.escalation >= 0.9\n"
        "    then: {action: handoff}\n"
    )
    policy = parse_policy(text)
    assert (
        policy.match_explicit_request(
            {"dialogue.fallbacks": 3, "sentiment.negative": 1, "dialogue.user_turns": 50}
        )
        is not None
    )


def problems(text: str, **kwargs: bool) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="p.yaml", **kwargs)
    return [str(p) for p in info.value.problems]


def test_unknown_weight_signal_has_file_line_and_did_you_mean() -> None:
    found = problems(POLICY.replace("dialogue.fallbacks: 0.8", "dialogue.falbacks: 0.8"))
    assert any(
        p.startswith("p.yaml:7: scores -> escalation -> weights -> dialogue.falbacks")
        and "did you mean 'dialogue.fallbacks'" in p
        for p in found
    ), found


def test_unknown_score_name_in_rule_has_did_you_mean() -> None:
    found = problems(POLICY.replace("when: score.escalation", "when: score.escalaton"))
    assert any("p.yaml:15" in p and "did you mean 'score.escalation'" in p for p in found), found


@pytest.mark.parametrize(
    ("old", "new", "line", "needle"),
    [
        ("bias: -2.0", "bias: high", 5, "expected a number"),
        ("sentiment.negative: 1.5", "sentiment.negative: .nan", 8, "finite"),
        ("bias: -2.0", "biass: -2.0", 3, "did you mean 'bias'"),
        ("log1p: [dialogue.user_turns]", "log1p: [dialogue.turns]", 10, "has no weight"),
        ("[0, 3]", "[3, 0]", 11, "low <= high"),
        ("  escalation:", "  Escalation:", 3, "score name"),
        ("dialogue.user_turns: 0.3", "score.other: 0.3", 9, "another score"),
    ],
)
def test_bad_scores_are_reported_with_lines(old: str, new: str, line: int, needle: str) -> None:
    text = POLICY.replace(old, new)
    if old == "  escalation:":
        text = text.replace("score.escalation", "score.Escalation")
    if new == "score.other: 0.3":
        text = text.replace("    log1p: [dialogue.user_turns]\n", "")
    found = problems(text)
    assert any(p.startswith(f"p.yaml:{line}:") and needle in p for p in found), found


def test_affect_weights_rejected_without_affect_model() -> None:
    found = problems(POLICY, affect=False)
    assert any("p.yaml:8:" in p and "no affect model" in p for p in found), found


def test_policy_without_scores_is_unchanged() -> None:
    policy = parse_policy(
        "version: 1\nrules:\n  - id: a\n    when: dialogue.fallbacks >= 1\n"
        "    then: {action: handoff}\n"
    )
    assert policy.spec.scores == {}
    assert not isinstance(policy.rules[0].expression, ScoredExpression)
