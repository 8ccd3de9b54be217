import pytest

from escalate.errors import PolicyError
from escalate.policy import parse_policy

BASE = """version: 1
rules:
  - id: stuck
    when: dialogue.consecutive_fallbacks >= 2
    then: {action: offer_human}
"""


def test_costs_are_optional_and_exposed() -> None:
    assert parse_policy(BASE).costs is None
    policy = parse_policy(BASE + "costs: {bot_per_conversation: 0.1, human_per_handoff: 4}\n")
    assert policy.costs is not None
    assert (policy.costs.bot_per_conversation, policy.costs.human_per_handoff) == (0.1, 4.0)
    assert policy.costs.missed_escalation == 0.0


def test_cost_problems_name_file_line_and_key() -> None:
    text = BASE + "costs:\n  human_per_handoff: -1\n  missed: 3\n  bot_per_conversation: abc\n"
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="p.yaml")
    shown = [str(p) for p in info.value.problems]
    assert any(
        s.startswith("p.yaml:7: costs -> human_per_handoff: expected a number >= 0") for s in shown
    )
    assert any(
        s.startswith("p.yaml:8: costs -> missed: unknown key") and "missed_escalation" in s
        for s in shown
    )
    assert any(
        s.startswith("p.yaml:9: costs -> bot_per_conversation: expected a number") for s in shown
    )
