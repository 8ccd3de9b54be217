"""The signals the engine computed at every user turn, as a matrix for fitting scores.

:func:`extract_features` replays labelled conversations through
:meth:`~escalate.engine.Engine.decide_many` — the same path as replay, so the values at
user turn *t* were computed from turns up to *t* only — and keeps every numeric signal of
:attr:`Decision.signals <escalate.models.Decision.signals>` at every user turn. The result
is a :class:`TurnFeatures`: one row per user turn, one column per signal, ``NaN`` where
a value was unknown. It also keeps each conversation's ``domain`` and what the base
policy itself made of each turn (its escalation score and whether it escalated), which
leave-one-domain-out tuning compares a learned score against. It saves to and loads from
``.npz`` so that the expensive part (the affect model) runs once per data set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from escalate.engine import Engine
from escalate.models import Conversation
from escalate.policy import Policy
from escalate.replay.readers import Record
from escalate.replay.runner import ConversationResult, escalation_score

__all__ = ["TurnFeatures", "extract_features", "features_from_results"]


@dataclass(frozen=True, slots=True)
class TurnFeatures:
    """Signal values at every user turn of labelled conversations.

    Attributes
    ----------
    names:
        The signal names, one per column of ``values``.
    values:
        ``(turns, names)`` float array; ``NaN`` where the signal was unknown.
    conversation:
        ``(turns,)`` index into ``ids`` of each row's conversation.
    user_turn:
        ``(turns,)`` 0-based user-turn index of each row within its conversation.
    ids:
        Conversation ids.
    labels:
        ``(conversations,)`` bool: did the conversation need a person?
    label_turn:
        ``(conversations,)`` the labelled user turn (see
        :func:`~escalate.replay.runner.label_user_turn`), ``-1`` when unknown.
    domains:
        Each conversation's :attr:`~escalate.models.Conversation.domain` (``None`` when
        it names none); empty means none is known.
    base_score:
        ``(turns,)`` the base policy's own escalation score at each row
        (:func:`~escalate.replay.runner.escalation_score`: ``NaN`` when unknown, ``-inf``
        when the policy has no escalating rule), or ``None`` when not recorded.
    base_escalated:
        ``(conversations,)`` bool: did the base policy escalate the conversation (at any
        decided turn, guards included)? ``None`` when not recorded.

    Examples
    --------
    >>> from escalate.models import Conversation, Turn
    >>> engine = Engine.from_policy("dialogue_only", affect=None, history="memory://")
    >>> c = Conversation(id="c1", turns=[Turn(role="user", text="hi"),
    ...     Turn(role="bot", event="fallback"), Turn(role="user", text="hello?")],
    ...     label={"escalate": True, "turn": 2})
    >>> f = extract_features([c], engine)
    >>> f.values.shape[0], f.column("dialogue.fallbacks").tolist(), f.label_turn.tolist()
    (2, [0.0, 1.0], [1])
    """

    names: tuple[str, ...]
    values: np.ndarray
    conversation: np.ndarray
    user_turn: np.ndarray
    ids: tuple[str, ...]
    labels: np.ndarray
    label_turn: np.ndarray
    domains: tuple[str | None, ...] = ()
    base_score: np.ndarray | None = None
    base_escalated: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.domains and len(self.domains) != len(self.ids):
            raise ValueError(
                f"domains must name one domain per conversation ({len(self.ids)}), "
                f"got {len(self.domains)}"
            )

    @property
    def conversations(self) -> int:
        """Number of conversations."""
        return len(self.ids)

    def domain(self, k: int) -> str | None:
        """The domain of conversation ``k`` (``None`` when it names none)."""
        return self.domains[k] if self.domains else None

    @property
    def domain_names(self) -> tuple[str, ...]:
        """The distinct domains named, in order of first appearance."""
        return tuple(dict.fromkeys(d for d in self.domains if d is not None))

    def with_domains(self, domains: Iterable[str | None]) -> TurnFeatures:
        """A copy whose conversations belong to the given domains (one per conversation)."""
        return replace(self, domains=tuple(domains))

    def column(self, name: str) -> np.ndarray:
        """The values of one signal at every user turn."""
        return np.asarray(self.values[:, self.names.index(name)])

    def row(self, i: int) -> dict[str, float | None]:
        """The signal values at row ``i``, ``None`` where unknown."""
        return {
            n: (None if np.isnan(v) else float(v))
            for n, v in zip(self.names, self.values[i], strict=True)
        }

    def subset(self, conversations: np.ndarray) -> TurnFeatures:
        """The rows of the given conversation indices, renumbered from 0 in that order."""
        keep = np.asarray(conversations, dtype=np.int64)
        remap = np.full(len(self.ids), -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        rows = np.flatnonzero(remap[self.conversation] >= 0)
        order = np.argsort(remap[self.conversation[rows]], kind="stable")
        rows = rows[order]
        return TurnFeatures(
            names=self.names,
            values=self.values[rows],
            conversation=remap[self.conversation[rows]],
            user_turn=self.user_turn[rows],
            ids=tuple(self.ids[i] for i in keep),
            labels=self.labels[keep],
            label_turn=self.label_turn[keep],
            domains=tuple(self.domains[i] for i in keep) if self.domains else (),
            base_score=self.base_score[rows] if self.base_score is not None else None,
            base_escalated=(self.base_escalated[keep] if self.base_escalated is not None else None),
        )

    def save(self, path: str | Path) -> Path:
        """Write to a ``.npz`` file (no pickles)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        optional: dict[str, Any] = {}
        if self.domains:  # a domain is never empty, so "" stands for none
            optional["domains"] = np.asarray([d or "" for d in self.domains], dtype=str)
        if self.base_score is not None:
            optional["base_score"] = self.base_score
        if self.base_escalated is not None:
            optional["base_escalated"] = self.base_escalated
        np.savez_compressed(
            target,
            names=np.asarray(self.names, dtype=str),
            values=self.values,
            conversation=self.conversation,
            user_turn=self.user_turn,
            ids=np.asarray(self.ids, dtype=str),
            labels=self.labels,
            label_turn=self.label_turn,
            **optional,
        )
        return target

    @classmethod
    def load(cls, path: str | Path) -> TurnFeatures:
        """Read a file written by :meth:`save` (files from before domains and base
        scores were kept load without them)."""
        with np.load(Path(path), allow_pickle=False) as data:
            files = set(data.files)
            return cls(
                names=tuple(str(n) for n in data["names"]),
                values=np.asarray(data["values"], dtype=np.float64),
                conversation=np.asarray(data["conversation"], dtype=np.int64),
                user_turn=np.asarray(data["user_turn"], dtype=np.int64),
                ids=tuple(str(i) for i in data["ids"]),
                labels=np.asarray(data["labels"], dtype=bool),
                label_turn=np.asarray(data["label_turn"], dtype=np.int64),
                domains=(
                    tuple(str(d) or None for d in data["domains"]) if "domains" in files else ()
                ),
                base_score=(
                    np.asarray(data["base_score"], dtype=np.float64)
                    if "base_score" in files
                    else None
                ),
                base_escalated=(
                    np.asarray(data["base_escalated"], dtype=bool)
                    if "base_escalated" in files
                    else None
                ),
            )


def _label_user_turn(conversation: Conversation) -> int:
    label = conversation.label
    if label is None or not label.escalate or label.turn is None:
        return -1
    users = sum(1 for t in conversation.turns[: label.turn + 1] if t.role == "user")
    return max(users - 1, 0)


def extract_features(
    conversations: Iterable[Conversation], engine: Engine, *, batch_size: int = 64
) -> TurnFeatures:
    """Replay labelled conversations and keep every signal at every user turn.

    Conversations without a label are skipped. Columns are every signal name seen at
    any user turn, sorted; a signal absent at a turn is unknown (``NaN``) there. Each
    conversation's ``domain`` is kept, and so are the engine's policy's escalation score
    at each user turn and whether it escalated the conversation.
    """
    labelled = (c for c in conversations if c.label is not None)
    table = _Table(engine.policy)
    for conversation, decisions in engine.decide_many(labelled, batch_size=batch_size):
        table.add(
            conversation.id,
            bool(conversation.label is not None and conversation.label.escalate),
            _label_user_turn(conversation),
            conversation.domain,
            any(d.escalates for d in decisions),
            (
                dict(d.signals.as_mapping()) if d.signals is not None else {}
                for d in decisions
                if d.role == "user"
            ),
        )
    return table.features()


def features_from_results(
    results: Iterable[ConversationResult | Record], policy: Policy | None = None
) -> TurnFeatures:
    """The features of a replay that kept every signal (``Runner(keep_signals="all")``).

    The same matrix as :func:`extract_features` over the same conversations, so that
    ``escalate tune`` can replay on a process pool or a Ray cluster: a row per user turn
    of each labelled conversation, in the order given. ``policy`` (the replayed one)
    gives the base policy's escalation score at each user turn; without it the score is
    unknown.

    Examples
    --------
    >>> from escalate.models import Turn
    >>> from escalate.replay.runner import Runner
    >>> c = Conversation(id="c1", turns=[Turn(role="user", text="hi"),
    ...     Turn(role="bot", event="fallback"), Turn(role="user", text="hello?")],
    ...     label={"escalate": True, "turn": 2})
    >>> runner = Runner("dialogue_only", affect=None, workers=1, keep_signals="all")
    >>> f = features_from_results(runner.run([c]))
    >>> f.values.shape[0], f.column("dialogue.fallbacks").tolist(), f.label_turn.tolist()
    (2, [0.0, 1.0], [1])
    """
    table = _Table(policy)
    for result in results:
        if not isinstance(result, ConversationResult) or result.label is None:
            continue
        table.add(
            result.id,
            bool(result.label.escalate),
            result.label_user_turn if result.label_user_turn is not None else -1,
            result.domain,
            result.escalated,
            (_kept_signals(d.signals) for d in result.decisions if d.role == "user"),
        )
    return table.features()


def _kept_signals(signals: Mapping[str, float | None] | None) -> dict[str, float | None]:
    if signals is None:
        raise ValueError("the replay kept no signals: use Runner(keep_signals='all')")
    return dict(signals)


class _Table:
    """The rows of :class:`TurnFeatures`, a conversation at a time: one row per user turn,
    with the base policy's escalation score there (unknown without a policy)."""

    def __init__(self, policy: Policy | None) -> None:
        self.policy = policy
        self.rows: list[dict[str, float | None]] = []
        self.conversation: list[int] = []
        self.user_turn: list[int] = []
        self.base_score: list[float] = []
        self.ids: list[str] = []
        self.labels: list[bool] = []
        self.label_turns: list[int] = []
        self.domains: list[str | None] = []
        self.escalated: list[bool] = []

    def add(
        self,
        id: str,
        label: bool,
        label_turn: int,
        domain: str | None,
        escalated: bool,
        user_turns: Iterable[dict[str, float | None]],
    ) -> None:
        k = len(self.ids)
        self.ids.append(id)
        self.labels.append(label)
        self.label_turns.append(label_turn)
        self.domains.append(domain)
        self.escalated.append(escalated)
        for u, signals in enumerate(user_turns):
            self.rows.append(signals)
            self.conversation.append(k)
            self.user_turn.append(u)
            score = (
                escalation_score(self.policy, signals, "user") if self.policy is not None else None
            )
            self.base_score.append(np.nan if score is None else score)

    def features(self) -> TurnFeatures:
        rows = self.rows
        names = sorted({n for r in rows for n in r})
        values = np.full((len(rows), len(names)), np.nan, dtype=np.float64)
        column = {n: j for j, n in enumerate(names)}
        for i, r in enumerate(rows):
            for n, v in r.items():
                if v is not None:
                    values[i, column[n]] = float(v)
        return TurnFeatures(
            names=tuple(names),
            values=values,
            conversation=np.asarray(self.conversation, dtype=np.int64),
            user_turn=np.asarray(self.user_turn, dtype=np.int64),
            ids=tuple(self.ids),
            labels=np.asarray(self.labels, dtype=bool),
            label_turn=np.asarray(self.label_turns, dtype=np.int64),
            domains=tuple(self.domains) if any(d is not None for d in self.domains) else (),
            base_score=np.asarray(self.base_score, dtype=np.float64),
            base_escalated=np.asarray(self.escalated, dtype=bool),
        )
