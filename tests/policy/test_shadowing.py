"""A rule that an earlier rule always pre-empts is a warning of the policy."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalate.policy import parse_policy
from escalate.policy.expressions import compile_expression
from escalate.policy.shadowing import implies

thresholds = st.floats(0.0, 1.0, allow_nan=False).map(lambda x: round(x, 2))
operators = st.sampled_from([">=", ">", "<=", "<"])


def holds(source: str, values: dict[str, float]) -> bool:
    return bool(compile_expression(source).evaluate(values))


@given(operators, thresholds, operators, thresholds, st.floats(-0.5, 1.5), st.floats(0, 3))
def test_a_claimed_implication_always_holds(
    op_a: str, a: float, op_b: str, b: float, x: float, failures: float
) -> None:
    earlier = f"dissatisfaction {op_a} {a}"
    later = f"dissatisfaction {op_b} {b} and dialogue.failures >= 1"
    if implies(later, earlier):
        values = {"dissatisfaction": x, "dialogue.failures": failures}
        assert not holds(later, values) or holds(earlier, values)


@given(thresholds, thresholds)
def test_a_ladder_in_the_wrong_order_is_caught(a: float, b: float) -> None:
    later = f"dissatisfaction >= {b} and dialogue.failures >= 1"
    assert implies(later, f"dissatisfaction >= {a}") == (b >= a)
    assert implies(later, f"{a} <= dissatisfaction") == (b >= a)  # written the other way


@pytest.mark.parametrize(
    ("later", "earlier"),
    [
        ("dissatisfaction >= 0.9 or dialogue.failures >= 1", "dissatisfaction >= 0.4"),
        ("dissatisfaction >= 0.9", "dissatisfaction >= 0.4 and dialogue.failures >= 1"),
        ("distress >= 0.9", "dissatisfaction >= 0.4"),
        ("dissatisfaction <= 0.9", "dissatisfaction >= 0.4"),
        ("not dissatisfaction < 0.9", "dissatisfaction >= 0.4"),
        ("dissatisfaction * 2 >= 0.9", "dissatisfaction >= 0.4"),
    ],
)
def test_what_cannot_be_proven_is_left_alone(later: str, earlier: str) -> None:
    assert not implies(later, earlier)


LADDER = """\
version: 1
rules:
  - id: unhappy
    when: dissatisfaction >= 0.4
    then: {{action: offer_human}}
  - id: unhappy-and-stuck
    {on}when: dissatisfaction >= 0.45 and dialogue.failures >= 1
    then: {{action: handoff}}
"""


def test_the_policy_names_the_rule_that_never_decides_and_the_one_before_it() -> None:
    policy = parse_policy(LADDER.format(on=""), source="p.yaml")
    (warning,) = policy.warnings
    assert "rule 'unhappy-and-stuck' never decides" in warning.message
    assert "rule 'unhappy' (line 3)" in warning.message and warning.line == 7
    assert pickle.loads(pickle.dumps(policy)).warnings == policy.warnings


def test_check_lists_the_warning_and_passes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from escalate.cli import app

    path = tmp_path / "ladder.yaml"
    path.write_text(LADDER.format(on=""), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "'unhappy-and-stuck' never decides" in result.stderr


def test_shipped_policies_have_no_rule_that_never_decides() -> None:
    from escalate._resources import shipped_dir
    from escalate.policy import load_policy

    for path in sorted(shipped_dir("policies").glob("*.yaml")):
        assert load_policy(path).warnings == (), path.name


def test_a_rule_on_other_turns_is_not_pre_empted() -> None:
    text = LADDER.format(on="on: any\n    ").replace(
        "version: 1", "version: 1\ndecide_on: [user, bot]"
    )
    assert [r.id for r in parse_policy(text).rules] == ["unhappy", "unhappy-and-stuck"]
