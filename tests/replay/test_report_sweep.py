"""The report's sweep: a threshold whose curve moves, over distinct thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from escalate import parse_policy
from escalate.models import Conversation, Turn
from escalate.replay.metrics import compute_metrics
from escalate.replay.report import report_sweep
from escalate.replay.runner import ConversationResult, Runner, collect
from escalate.replay.sweep import default_target, sweep

POLICY = """\
version: 1
rules:
  - id: long-and-looping
    when: dialogue.user_turns >= 3 and dialogue.bot_repeats >= 5
    then: {action: offer_human}
  - id: slow
    when: dialogue.elapsed_seconds >= 10.00005
    then: {action: offer_human}
  - id: stuck
    when: dialogue.consecutive_fallbacks >= 2
    then: {action: offer_human}
on_error: continue
"""

SCORED = """\
version: 1
scores:
  escalation:
    bias: -2.0
    weights: {dialogue.consecutive_fallbacks: 1.5}
rules:
  - id: stuck
    when: dialogue.consecutive_fallbacks >= 2
    then: {action: offer_human}
  - id: learned
    when: score.escalation >= 0.5
    then: {action: handoff}
on_error: continue
"""

START = datetime(2026, 5, 4, 10, tzinfo=UTC)


def chats() -> list[Conversation]:
    """Conversations with 0 to 4 fallbacks in a row; the slow ones take ten seconds and
    a few microseconds, so their elapsed times differ only past the fourth digit."""
    out = []
    for i in range(20):
        fallbacks = i % 5
        turns = [Turn(role="user", text="help me", timestamp=START)]
        for j in range(fallbacks):
            turns += [Turn(role="bot", event="fallback"),
                      Turn(role="user", text=f"hello {j}", timestamp=START)]  # fmt: skip
        if i % 2:
            stamp = START + timedelta(seconds=10, microseconds=7 * i)
            turns += [Turn(role="bot", text="One moment."),
                      Turn(role="user", text="still there?", timestamp=stamp)]  # fmt: skip
        out.append(Conversation(id=f"c{i}", turns=turns, label={"escalate": fallbacks >= 3}))
    return out


def replay(text: str) -> tuple[object, list[ConversationResult]]:
    policy = parse_policy(text, affect=False)
    runner = Runner(policy, affect=None, workers=1, keep_signals=True)
    results, errors = collect(runner.run(chats()))
    assert errors == []
    return policy, results


def escalated(points: list) -> set[int]:  # type: ignore[type-arg]
    return {p.metrics["escalated"] for p in points}


def test_the_default_is_a_rule_that_moves_not_the_first_flat_one() -> None:
    policy, results = replay(POLICY)
    # what the report used to sweep: the first rule, whose curve is flat here (no bot
    # repeats itself five times, whatever the number of user turns)
    rule, threshold, _ = default_target(policy)  # type: ignore[arg-type, misc]
    _, flat = sweep(policy, results, rule, signal=threshold.signal)  # type: ignore[arg-type]
    assert rule == "long-and-looping" and len(escalated(flat)) == 1
    chosen = report_sweep(policy, results, compute_metrics(results))  # type: ignore[arg-type]
    assert chosen is not None
    name, target, points = chosen
    assert name == "stuck" and target.signal == "dialogue.consecutive_fallbacks"
    assert len(escalated(points)) > 1


def test_thresholds_are_distinct_as_printed() -> None:
    policy, results = replay(POLICY)
    _, raw = sweep(policy, results, "slow")  # type: ignore[arg-type]
    printed = [f"{p.value:.4g}" for p in raw]
    assert len(set(printed)) < len(printed)  # what the table used to repeat
    chosen = report_sweep(policy, results, {}, rule="slow")  # type: ignore[arg-type]
    assert chosen is not None
    _, target, points = chosen
    labels = [f"{p.value:.4g}" for p in points]
    assert len(set(labels)) == len(labels)
    assert target.value in [p.value for p in points]  # the policy's own point stays
    assert [p.value for p in points] == sorted(p.value for p in points)


def test_a_learned_score_is_swept_first() -> None:
    policy, results = replay(SCORED)
    metrics = compute_metrics(results)
    assert metrics["rules_all"].get("stuck", 0) > 0
    chosen = report_sweep(policy, results, metrics)  # type: ignore[arg-type]
    assert chosen is not None and chosen[0] == "learned"
    assert chosen[1].signal == "score.escalation" and len(escalated(chosen[2])) > 1
