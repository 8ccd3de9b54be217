"""Every shipped policy loads, is documented, and does what its comments promise."""

from __future__ import annotations

from datetime import datetime

import pytest

from escalate.policy import load_policy, shipped_policies
from escalate.signals.catalog import requires_affect

SHIPPED = sorted(shipped_policies())


def test_the_expected_policies_ship() -> None:
    assert {"default", "retail", "financial_services", "dialogue_only"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policy_loads(name: str) -> None:
    policy = load_policy(name)
    assert policy.name == name
    assert policy.rules
    assert policy.spec.description


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policy_is_commented(name: str) -> None:
    text = shipped_policies()[name].read_text(encoding="utf-8")
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 2


@pytest.mark.parametrize("name", ["default", "retail", "financial_services", "dialogue_only"])
def test_main_policies_describe_every_rule(name: str) -> None:
    policy = load_policy(name)
    assert all(rule.description for rule in policy.rules)
    assert policy.explicit_request is not None
    assert policy.guards.single_handoff
    assert policy.guards.cooldown_turns >= 1


def test_dialogue_only_loads_without_affect() -> None:
    policy = load_policy("dialogue_only", affect=False)
    assert not policy.requires_affect
    assert not any(requires_affect(n) for n in policy.signal_names)


@pytest.mark.parametrize("name", ["default", "retail", "financial_services"])
def test_affect_policies_need_affect(name: str) -> None:
    assert load_policy(name).requires_affect


def test_retail_keeps_shop_hours() -> None:
    bh = load_policy("retail").guards.business_hours
    assert bh is not None and bh.outside == "offer_callback"
    assert bh.is_open(datetime(2026, 6, 6, 10, 0))  # Saturday 11:00 in London
    assert not bh.is_open(datetime(2026, 6, 7, 10, 0))  # Sunday
    assert not bh.is_open(datetime(2026, 12, 25, 12, 0))  # Christmas


def test_financial_services_puts_distress_first_around_the_clock() -> None:
    policy = load_policy("financial_services")
    match = policy.evaluate({"distress": 0.8, "dialogue.consecutive_fallbacks": 3})
    assert match is not None
    assert (match.rule, match.action, match.priority, match.queue) == (
        "acute-distress",
        "handoff",
        "urgent",
        "vulnerable-customers",
    )
    bh = policy.guards.business_hours
    assert bh is not None and not bh.applies_to("urgent")  # never made to wait
    assert policy.on_error == "handoff"
    streak = policy.evaluate({"trajectory.dissatisfaction.mean_recent": 0.4})
    assert streak is not None and streak.queue == "priority-support"


def test_default_policy_scenarios() -> None:
    policy = load_policy("default")
    stuck = policy.evaluate({"dialogue.consecutive_fallbacks": 2})
    assert stuck is not None and (stuck.rule, stuck.action) == ("bot-stuck", "offer_human")
    happy = policy.evaluate(
        {"mood.gratitude": 0.9, "dissatisfaction": 0.05, "dialogue.consecutive_fallbacks": 0,
         "dialogue.user_turns": 30}
    )  # fmt: skip
    assert happy is not None and happy.action == "continue"
    asked = policy.match_explicit_request({"dialogue.asked_for_human": 1})
    assert asked is not None and asked.action == "handoff"
    assert policy.evaluate({}) is None


def test_baselines() -> None:
    shipped = set(SHIPPED)
    if "baseline_never" in shipped:
        assert load_policy("baseline_never").evaluate({"human_request": 1.0}) is not None
        assert load_policy("baseline_never").evaluate({})  # matches, to continue
    if "baseline_always" in shipped:
        match = load_policy("baseline_always").evaluate({})
        assert match is not None and match.action == "handoff"
    if "baseline_keyword" in shipped:
        assert not load_policy("baseline_keyword", affect=False).requires_affect
