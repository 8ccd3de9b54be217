"""A sweep or a comparison re-decides stored turns; it must equal a full replay.

Random policies (explicit request, rules over dialogue and affect signals on user or bot
turns, cooldown, single handoff, business hours, on_error) and random conversations (timestamps in and out
of hours, turns without a timestamp, an affect model that fails on some conversations).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import KeywordAffect

from escalate.affect.base import AffectScores
from escalate.models import Conversation, Turn
from escalate.policy import Policy, parse_policy
from escalate.replay.compare import compare
from escalate.replay.metrics import compute_metrics
from escalate.replay.readers import Record
from escalate.replay.runner import ConversationResult, Runner, collect
from escalate.replay.sweep import policy_variant, simulate, sweep, thresholds


class SometimesFailing(KeywordAffect):
    """Keyword scores, except that a call with the word "boom" in it fails."""

    def predict(self, texts: Sequence[str]) -> list[AffectScores]:
        if any("boom" in t for t in texts):
            raise RuntimeError("boom")
        return super().predict(texts)


CONDITIONS = st.sampled_from(
    [
        "dialogue.consecutive_fallbacks >= {n}",
        "dialogue.user_negations >= {n}",
        "dialogue.user_turns >= {n}",
        "dialogue.human_requests >= {n}",
        "sentiment.negative >= {p}",
        "mood.frustration >= {p}",
        "human_request >= {p}",
        "trajectory.negative.streak >= {n}",
        "dialogue.asked_for_human",
        "dialogue.last_bot_fallback",
    ]
)


@st.composite
def conditions(draw: st.DrawFn) -> str:
    def one() -> str:
        template = draw(CONDITIONS)
        return template.format(
            n=draw(st.integers(1, 3)), p=draw(st.sampled_from([0.05, 0.3, 0.5, 0.8, 0.9]))
        )

    shape = draw(st.sampled_from(["one", "and", "or", "not"]))
    if shape == "one":
        return one()
    if shape == "not":
        return f"{one()} and not {one()}"
    return f"{one()} {shape} {one()}"


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    bot_turns = draw(st.booleans())
    lines = ["version: 1", *(["decide_on: [user, bot]"] if bot_turns else []), "rules:"]
    for i in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["offer_human", "handoff", "offer_callback", "continue"]))
        priority = draw(st.sampled_from(["normal", "high", "urgent"]))
        on = draw(st.sampled_from(["user", "bot", "any"])) if bot_turns else "user"
        lines += [
            f"  - id: r{i}",
            f"    on: {on}",
            f"    when: {draw(conditions())}",
            f"    then: {{action: {action}, priority: {priority}}}",
        ]
    lines += ["guards:", f"  cooldown_turns: {draw(st.integers(0, 3))}"]
    lines.append(f"  single_handoff: {str(draw(st.booleans())).lower()}")
    if draw(st.booleans()):
        lines += [
            "  explicit_request:",
            f"    when: {draw(conditions())}",
            "    then: {action: handoff, priority: high}",
        ]
    if draw(st.booleans()):
        outside = draw(st.sampled_from(["offer_callback", "continue"]))
        exempt = draw(st.sampled_from(["[]", "[urgent]"]))
        lines.append(
            "  business_hours: {timezone: UTC, open: '09:00-17:00', "
            f"outside: {outside}, exempt_priorities: {exempt}}}"
        )
    on_error = draw(st.sampled_from(["continue", "offer_human", "handoff"]))
    lines.append(f"on_error: {on_error}")
    return parse_policy("\n".join(lines) + "\n")


USER_TEXTS = [
    "where is my parcel",
    "no that's wrong",
    "this is ridiculous",
    "I am furious",
    "get me a human",
    "I want an agent now",
    "hello?",
    "boom goes my router",
]
MONDAY = datetime(2026, 6, 1, tzinfo=UTC)


@st.composite
def conversations(draw: st.DrawFn) -> list[Conversation]:
    out = []
    for c in range(draw(st.integers(1, 4))):
        start = MONDAY + timedelta(hours=draw(st.integers(0, 24 * 7 - 1)))
        timed = draw(st.booleans())
        turns = []
        for u in range(draw(st.integers(1, 6))):
            when = start + timedelta(minutes=20 * u) if timed else None
            turns.append(Turn(role="user", text=draw(st.sampled_from(USER_TEXTS)), timestamp=when))
            if draw(st.booleans()):
                turns.append(Turn(role="bot", event="fallback"))
            else:
                turns.append(Turn(role="bot", text=f"answer {u}"))
        label = {"escalate": draw(st.booleans())}
        out.append(Conversation(id=f"c{c}", turns=turns, label=label))
    return out


def replay(policy: Policy, data: list[Conversation]) -> list[ConversationResult]:
    # one conversation per call of the model, so that a failure stays in its conversation
    runner = Runner(policy, affect=SometimesFailing, workers=1, chunk_size=1, keep_signals=True)
    results, errors = collect(runner.run(data))
    assert errors == []
    return results


def decisions(results: list[ConversationResult]) -> list[list[tuple[object, ...]]]:
    return [
        [(d.turn, d.role, d.user_turn, d.action, d.rule, d.guard) for d in r.decisions]
        for r in results
    ]


@st.composite
def variants(draw: st.DrawFn) -> tuple[Policy, Policy, str, float, str, int]:
    policy = draw(policies())
    rule = draw(st.sampled_from([r for r in policy.rules if thresholds(r)] or [None]))
    if rule is None:
        return policy, policy, "", 0.0, "", 0
    target = draw(st.sampled_from(thresholds(rule)))
    same = [t for t in thresholds(rule) if t.signal == target.signal]
    value = draw(st.sampled_from([0.1, 0.5, 0.85, 1.0, 2.0, 3.0]))
    variant = policy_variant(
        policy, rule.id, value, signal=target.signal, occurrence=same.index(target)
    )
    return policy, variant, rule.id, value, target.signal, same.index(target)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(variants(), conversations())
def test_sweep_and_compare_equal_a_full_replay(
    case: tuple[Policy, Policy, str, float, str, int], data: list[Conversation]
) -> None:
    policy, variant, rule_id, value, signal, occurrence = case
    kept = replay(policy, data)
    full = replay(variant, data)
    # simulate: every turn decided as the full replay decided it
    assert decisions([simulate(variant, r) for r in kept]) == decisions(full)
    assert decisions([simulate(policy, r) for r in kept]) == decisions(kept)
    if rule_id:
        # sweep: the metrics of the variant equal those of its full replay
        _, (point,) = sweep(policy, kept, rule_id, [value], signal=signal, occurrence=occurrence)
        assert point.metrics == compute_metrics(full)
    # compare: the conversations it lists as changed are those whose first escalation moved
    result = compare(
        policy,
        variant,
        lambda: [Record(i, c) for i, c in enumerate(data, 1)],
        affect=SometimesFailing,
        workers=1,
        chunk_size=1,
    )

    def first(r: ConversationResult) -> tuple[object, ...]:
        e = r.first_escalation
        return (False, None, None) if e is None else (True, e.turn, e.rule)

    changed = [a.id for a, b in zip(kept, full, strict=True) if first(a) != first(b)]
    assert [c.id for c in result.changes] == changed
