"""Writing the explorer: the list, the detail shards, the search shards and the page."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

from escalate.models import Conversation
from escalate.policy import CompiledRule, Policy
from escalate.replay.runner import ConversationResult, TurnOutcome

__all__ = ["ExplorerWriter", "conversation_record", "write_explorer"]

#: Outcome codes in the list: true/false positive/negative, or ``-`` without a label.
OUTCOMES = {"TP": "p", "FP": "f", "FN": "n", "TN": "t", None: "-"}
#: Characters of the first customer message shown in the list.
PREVIEW = 90
#: Characters of each conversation that search reads.
SEARCHABLE = 4000
#: Signals charted per conversation (besides the escalation score).
KEY_SIGNALS = 3
ASSETS = ("explorer.js", "explorer.css")


def _outcome(result: ConversationResult) -> str | None:
    if result.label is None:
        return None
    needed = result.label.escalate
    if result.escalated:
        return "TP" if needed else "FP"
    return "FN" if needed else "TN"


def _number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 4)


def _rules(policy: Policy) -> dict[str, CompiledRule]:
    rules = {rule.id: rule for rule in policy.rules}
    if policy.explicit_request is not None:
        rules[policy.explicit_request.id] = policy.explicit_request
    return rules


def _reasons(rules: Mapping[str, CompiledRule], decision: TurnOutcome) -> list[str]:
    """Each condition that held for the decision's rule, from the kept signal values."""
    if decision.rule is None:
        return []
    rule = rules.get(decision.rule)
    if rule is None or decision.signals is None:
        return [decision.rule]
    match = rule.match(decision.signals)
    return [str(reason) for reason in match.reasons] if match is not None else [decision.rule]


def _key_signals(
    policy: Policy, rules: Mapping[str, CompiledRule], result: ConversationResult
) -> list[str]:
    """The signals of the rule that decided first or, without an escalation, of the rule
    that came closest (highest margin at the conversation's highest-scoring turn)."""
    first = result.first_escalation
    rule = rules.get(first.rule) if first is not None and first.rule else None
    if rule is None:
        scored = [d for d in result.decisions if d.signals is not None and d.score is not None]
        if scored:
            best = max(scored, key=lambda d: d.score if d.score is not None else -math.inf)
            assert best.signals is not None
            margins = {k: m for k, m in policy.margins(best.signals).items() if m is not None}
            if margins:
                rule = rules.get(max(margins, key=lambda k: margins[k]))
    if rule is None:
        return []
    kept = result.decisions[0].signals or {} if result.decisions else {}
    return sorted(n for n in rule.expression.names if n in kept)[:KEY_SIGNALS]


def conversation_record(
    policy: Policy, conversation: Conversation, result: ConversationResult
) -> dict[str, Any]:
    """One conversation's details as the explorer shows them (plain JSON).

    ``turns`` are ``[role, text, intent, event, timestamp]``; ``decisions`` are
    ``[turn, action, rule, guard, reasons]`` for each user turn; ``signals`` holds the
    escalation score and the key signals at each user turn; ``decision`` is the user turn
    of the first escalation and ``label_turn`` the labelled one.

    Examples
    --------
    >>> from escalate.models import Turn
    >>> from escalate.replay.runner import Runner
    >>> runner = Runner("dialogue_only", affect=None, workers=1, keep_signals=True)
    >>> c = Conversation(id="c1", turns=[Turn(role="user", text="hi"),
    ...     Turn(role="bot", event="fallback"), Turn(role="user", text="get me a human")],
    ...     label={"escalate": True, "turn": 2})
    >>> record = conversation_record(runner.policy, c, next(runner.run([c])))
    >>> record["outcome"], record["decisions"][1][:3], record["decisions"][1][4]
    ('TP', [2, 'handoff', 'explicit_request'], ['explicit_request: dialogue.asked_for_human=1 != 0'])
    """
    rules = _rules(policy)
    names = _key_signals(policy, rules, result)
    series: dict[str, list[float | None]] = {"score": [_number(d.score) for d in result.decisions]}
    for name in names:
        series[name] = [
            _number((d.signals or {}).get(name)) if d.signals is not None else None
            for d in result.decisions
        ]
    return {
        "id": conversation.id,
        "customer_id": conversation.customer_id,
        "channel": conversation.channel,
        "outcome": _outcome(result),
        "label": conversation.label.model_dump() if conversation.label is not None else None,
        "label_turn": result.label_user_turn,
        "decision": result.first_escalation_user_turn,
        "turns": [
            [
                t.role,
                t.text,
                t.intent,
                t.event,
                t.timestamp.isoformat() if t.timestamp is not None else None,
            ]
            for t in conversation.turns
        ],
        "decisions": [
            [d.turn, d.action, d.rule, d.guard, _reasons(rules, d)] for d in result.decisions
        ],
        "signals": series,
    }


def _script(path: Path, call: str, payload: Any) -> None:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    # nothing in the data can close a script element or a string early
    text = text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    path.write_text(f"{call}{text});\n", encoding="utf-8")


class ExplorerWriter:
    """Writes the explorer into a report folder, one conversation at a time.

    Parameters
    ----------
    directory:
        The report folder; the page is ``conversations.html`` there.
    policy:
        The policy the conversations were replayed with (for each decision's reasons).
        Results must come from a replay with ``keep_signals=True`` for the reasons and
        the chart; without kept signals the decisions are shown without them.
    title:
        The page's title.
    shard_size, text_shard_size:
        Conversations per detail shard and per search shard.

    Examples
    --------
    >>> import tempfile
    >>> from escalate.models import Turn
    >>> from escalate.replay.runner import Runner
    >>> runner = Runner("dialogue_only", affect=None, workers=1, keep_signals=True)
    >>> c = Conversation(id="c1", turns=[Turn(role="user", text="get me a human")])
    >>> with ExplorerWriter(tempfile.mkdtemp(), runner.policy) as explorer:
    ...     explorer.add(c, next(runner.run([c])))
    >>> explorer.page.name, explorer.count
    ('conversations.html', 1)
    """

    def __init__(
        self,
        directory: str | Path,
        policy: Policy,
        *,
        title: str = "Conversations",
        shard_size: int = 500,
        text_shard_size: int = 5000,
    ) -> None:
        if shard_size < 1 or text_shard_size < 1:
            raise ValueError("shard sizes must be positive integers")
        self.directory = Path(directory)
        self.data = self.directory / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        for stale in self.data.glob("*.js"):
            stale.unlink()
        self.policy = policy
        self.title = title
        self.shard_size = shard_size
        self.text_shard_size = text_shard_size
        self.page = self.directory / "conversations.html"
        self.count = 0
        self._ids: list[str] = []
        self._outcomes: list[str] = []
        self._first: list[int] = []
        self._fired: list[list[int]] = []
        self._users: list[int] = []
        self._at: list[int] = []
        self._preview: list[str] = []
        self._rules: dict[str, int] = {}
        self._shard: list[dict[str, Any]] = []
        self._text: list[str] = []

    def __enter__(self) -> ExplorerWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()

    def _rule(self, rule: str) -> int:
        return self._rules.setdefault(rule, len(self._rules))

    def add(self, conversation: Conversation, result: ConversationResult) -> None:
        """Add one replayed conversation (in replay order)."""
        if conversation.id != result.id:
            raise ValueError(
                f"conversation {conversation.id!r} given with the result of {result.id!r}"
            )
        record = conversation_record(self.policy, conversation, result)
        first = result.first_escalation
        self._ids.append(conversation.id)
        self._outcomes.append(OUTCOMES[record["outcome"]])
        self._first.append(self._rule(first.rule) if first is not None and first.rule else -1)
        self._fired.append(sorted({self._rule(r) for r in result.all_rules}))
        self._users.append(result.user_turns)
        self._at.append(-1 if record["decision"] is None else record["decision"])
        opening = next(
            (t.text or t.intent or t.event for t in conversation.turns if t.role == "user"), ""
        )
        self._preview.append((opening or "")[:PREVIEW])
        searchable = " ".join([conversation.id, *(t.text for t in conversation.turns if t.text)])
        self._text.append(searchable[:SEARCHABLE].lower())
        self._shard.append(record)
        self.count += 1
        if len(self._shard) >= self.shard_size:
            self._shard = self._flush(self._shard, self.shard_size, "conv", "ESCALATE_SHARD")
        if len(self._text) >= self.text_shard_size:
            self._text = self._flush(self._text, self.text_shard_size, "text", "ESCALATE_TEXT")

    def _flush(self, items: list[Any], size: int, prefix: str, call: str) -> list[Any]:
        """Write the shard that ``items`` fill (the last conversation's); returns a new list."""
        if items:
            number = (self.count - 1) // size
            _script(self.data / f"{prefix}-{number:05d}.js", f"{call}({number},", items)
        return []

    def close(self) -> Path:
        """Write what is left, the list and the page; returns the page's path."""
        self._shard = self._flush(self._shard, self.shard_size, "conv", "ESCALATE_SHARD")
        self._text = self._flush(self._text, self.text_shard_size, "text", "ESCALATE_TEXT")
        index = {
            "version": 1,
            "title": self.title,
            "policy": self.policy.name,
            "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "count": self.count,
            "shard_size": self.shard_size,
            "text_shard_size": self.text_shard_size,
            "rules": list(self._rules),
            "id": self._ids,
            "outcome": "".join(self._outcomes),
            "first": self._first,
            "fired": self._fired,
            "users": self._users,
            "at": self._at,
            "preview": self._preview,
        }
        _script(self.data / "index.js", "ESCALATE_INDEX(", index)
        assets = self.directory / "explorer"
        assets.mkdir(exist_ok=True)
        source = resources.files("escalate.replay.explorer") / "assets"
        for name in ASSETS:
            with resources.as_file(source / name) as path:
                shutil.copyfile(path, assets / name)
        page = (source / "conversations.html").read_text(encoding="utf-8")
        self.page.write_text(page.replace("{{title}}", _escape(self.title)), encoding="utf-8")
        return self.page


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def write_explorer(
    directory: str | Path,
    policy: Policy,
    pairs: Iterable[tuple[Conversation, ConversationResult]],
    *,
    title: str = "Conversations",
) -> Path:
    """Write the explorer for ``(conversation, result)`` pairs; returns the page's path.

    Examples
    --------
    >>> import tempfile
    >>> from escalate.models import Turn
    >>> from escalate.replay.runner import Runner
    >>> runner = Runner("dialogue_only", affect=None, workers=1, keep_signals=True)
    >>> c = Conversation(id="c1", turns=[Turn(role="user", text="hello")])
    >>> write_explorer(tempfile.mkdtemp(), runner.policy, [(c, next(runner.run([c])))]).name
    'conversations.html'
    """
    writer = ExplorerWriter(directory, policy, title=title)
    for conversation, result in pairs:
        writer.add(conversation, result)
    return writer.close()
