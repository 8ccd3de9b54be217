"""Compare two policies on the same conversations: what changed, and by how much.

Both policies replay the same input (read twice, streamed); conversations are paired by
position, so ids need not be unique. A conversation *changed* when it is escalated under
one policy and not the other, or when its first escalation moves to another turn or
comes from another rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from escalate.policy import Policy
from escalate.policy.schema import Costs
from escalate.replay.metrics import MetricsAccumulator
from escalate.replay.readers import Record
from escalate.replay.runner import ConversationResult, Runner

__all__ = ["Change", "Comparison", "compare", "metric_deltas"]


@dataclass(frozen=True, slots=True)
class Change:
    """One conversation whose decision differs between policies A and B.

    ``a`` and ``b`` are ``{"escalated", "turn", "user_turn", "action", "rule"}`` of the
    first escalation under each policy (``turn`` and the rest ``None`` when not escalated).

    Examples
    --------
    >>> Change("c1", 3, {"escalated": False}, {"escalated": True}).id
    'c1'
    """

    id: str
    line: int
    a: dict[str, Any]
    b: dict[str, Any]
    label: bool | None = None


@dataclass(slots=True)
class Comparison:
    """The metrics of both policies, their deltas (B - A) and the changed conversations.

    Examples
    --------
    >>> c = Comparison({"recall": 0.5}, {"recall": 0.75})
    >>> metric_deltas(c.a, c.b)
    {'recall': 0.25}
    """

    a: dict[str, Any]
    b: dict[str, Any]
    changes: list[Change] = field(default_factory=list)
    name_a: str = "A"
    name_b: str = "B"

    @property
    def deltas(self) -> dict[str, float]:
        """Numeric metrics of B minus those of A."""
        return metric_deltas(self.a, self.b)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "a": {"policy": self.name_a, **self.a},
            "b": {"policy": self.name_b, **self.b},
            "deltas": self.deltas,
            "changed": len(self.changes),
            "changes": [
                {"id": c.id, "line": c.line, "label": c.label, "a": c.a, "b": c.b}
                for c in self.changes
            ],
        }


def metric_deltas(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """``b[k] - a[k]`` for every top-level metric that is a number in both."""
    out: dict[str, float] = {}
    for key, value in a.items():
        other = b.get(key)
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and isinstance(other, int | float)
            and not isinstance(other, bool)
        ):
            out[key] = other - value
    costs_a, costs_b = a.get("costs"), b.get("costs")
    if isinstance(costs_a, dict) and isinstance(costs_b, dict):
        out["cost_per_1000"] = costs_b["cost_per_1000"] - costs_a["cost_per_1000"]
    return out


def _first(result: ConversationResult) -> dict[str, Any]:
    first = result.first_escalation
    if first is None:
        return {"escalated": False, "turn": None, "user_turn": None, "action": None, "rule": None}
    return {
        "escalated": True,
        "turn": first.turn,
        "user_turn": result.first_escalation_user_turn,
        "action": first.action,
        "rule": first.rule,
    }


def compare(
    policy_a: str | Path | Policy,
    policy_b: str | Path | Policy,
    records: Callable[[], Iterable[Record]],
    *,
    costs: Costs | None = None,
    **runner_options: Any,
) -> Comparison:
    """Replay ``records()`` under both policies and compare.

    Parameters
    ----------
    policy_a, policy_b:
        Policy files or shipped names, or :class:`~escalate.policy.Policy` objects.
    records:
        Called once per policy; returns the input afresh (for example
        ``lambda: open_conversations(path)``).
    costs:
        A cost model for both; by default each policy's own ``costs``.
    **runner_options:
        Passed to :class:`~escalate.replay.runner.Runner` (``affect``, ``workers``,
        ``backend``...); a ``checkpoint`` folder keeps policy A's shards in ``a/`` and
        B's in ``b/``.

    Examples
    --------
    >>> from escalate.models import Conversation, Turn
    >>> from escalate.replay.readers import Record
    >>> c = Conversation(id="c", turns=[Turn(role="user", text="get me a human")])
    >>> result = compare("dialogue_only", "baseline_never", lambda: [Record(1, c)],
    ...                  affect=None, workers=1)
    >>> [(x.id, x.a["escalated"], x.b["escalated"]) for x in result.changes]
    [('c', True, False)]
    """
    checkpoint = runner_options.pop("checkpoint", None)
    folder = Path(checkpoint) if checkpoint is not None else None
    runner_a = Runner(policy_a, checkpoint=folder / "a" if folder else None, **runner_options)
    runner_b = Runner(policy_b, checkpoint=folder / "b" if folder else None, **runner_options)
    acc_a = MetricsAccumulator(costs=costs or runner_a.policy.costs)
    acc_b = MetricsAccumulator(costs=costs or runner_b.policy.costs)
    changes: list[Change] = []
    pairs: Iterator[tuple[ConversationResult | Record, ConversationResult | Record]] = zip(
        runner_a.run(records()), runner_b.run(records()), strict=True
    )
    for item_a, item_b in pairs:
        if not isinstance(item_a, ConversationResult) or not isinstance(item_b, ConversationResult):
            acc_a.add_rejected()
            acc_b.add_rejected()
            continue
        acc_a.add(item_a)
        acc_b.add(item_b)
        first_a, first_b = _first(item_a), _first(item_b)
        if (first_a["escalated"], first_a["turn"], first_a["rule"]) != (
            first_b["escalated"],
            first_b["turn"],
            first_b["rule"],
        ):
            label = item_a.label.escalate if item_a.label is not None else None
            changes.append(Change(item_a.id, item_a.line, first_a, first_b, label))
    return Comparison(
        acc_a.result(),
        acc_b.result(),
        changes,
        name_a=runner_a.policy.name,
        name_b=runner_b.policy.name,
    )
