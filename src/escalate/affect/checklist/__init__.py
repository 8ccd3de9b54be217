"""Behavioural test suites for affect models, in the style of CheckList (Ribeiro et al.,
ACL 2020), kept beside the model so that a retrained model is held to them too.

The suites are hand-written customer messages (``suites/*.jsonl``), independent of the
training phrases: no sentence is shared with :mod:`escalate.affect.phrases`.

Minimum functionality (``human_request``, ``dissatisfaction``, ``distress``)
    Labelled messages, many with the bot's previous message as context: requests and
    look-alikes (questions about agents, mentions of people, "yes please" after an offer
    of a person or of a receipt); unhappiness with the service against negativity about
    the topic, with minimal pairs (the same words after two bot messages); vulnerable
    situations against harmless uses of "dead", "hospital" or "panic". Each suite splits
    in two halves by a stable hash (a minimal pair stays together): ``dev`` calibrates the
    model's heads in training, ``test`` is what the benchmark reports.
Invariance (``invariance_bases``)
    Requests and non-requests; an interjection ("Unbelievable.", "ugh") or an unrelated
    sentence before or after, a typo, or a change of case must not flip the decision.
Direction (``direction_bases``)
    Customer messages; saying that this is the third time must not lower
    dissatisfaction.

Examples
--------
>>> from escalate.affect.checklist import load_suite
>>> items = load_suite("human_request")
>>> len(items) > 300, {i.label for i in items}
(True, {0, 1})
>>> len(load_suite("human_request", "dev")) + len(load_suite("human_request", "test")) == len(items)
True
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

import numpy as np

from escalate.affect.augment import add_typo, change_case, with_aside
from escalate.affect.base import AffectModel, AffectScores, MessageContext

__all__ = [
    "DIRECTION_PHRASES",
    "INVARIANCE_ASIDES",
    "SUITES",
    "CheckResult",
    "SuiteItem",
    "direction",
    "invariance",
    "load_suite",
    "minimum_functionality",
    "run_checklist",
    "score_items",
]

#: The labelled suites, one per head.
SUITES: tuple[str, ...] = ("human_request", "dissatisfaction", "distress")

#: What the invariance test adds before or after a message (the test's own list).
INVARIANCE_ASIDES: tuple[str, ...] = (
    "Unbelievable.", "ugh", "Ugh.", "Honestly...", "Hello?", "Are you there?", "Oh come on.",
    "Right then.", "Argh!", "Seriously.", "lol", "Morning.", "Thanks in advance.",
    "This is taking ages.", "Ok.", "Hi there.", "I'm on my lunch break.", "Bear with me.",
    "My order number is 55102.", "I'm typing this on my phone.", "Quick question.",
    "Please.", "Cheers.", "Sorry for the long message.",
)  # fmt: skip

#: What the direction test adds to a message: saying it is not the first time.
DIRECTION_PHRASES: tuple[str, ...] = (
    "for the third time", "This is the third time I'm contacting you about this.",
    "I've already asked twice.", "again", "I asked the same thing last week.",
    "Third message about this now.",
)  # fmt: skip

#: How far dissatisfaction may fall when a repeat phrase is added before it counts as a
#: failure of the direction test (int8 noise alone moves a score by about 0.01).
DIRECTION_TOLERANCE = 0.02


@dataclass(frozen=True, slots=True)
class SuiteItem:
    """One labelled message of a suite."""

    text: str
    label: int
    kind: str
    context: MessageContext | None = None
    group: str = ""

    @property
    def part(self) -> Literal["dev", "test"]:
        """The half this item belongs to (minimal pairs stay together)."""
        return "dev" if zlib.crc32(self.group.encode("utf-8")) % 2 == 0 else "test"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one test: ``cases`` run, ``failures`` among them, and a few failing
    examples; for minimum functionality also accuracy, precision, recall and F1."""

    name: str
    kind: Literal["MFT", "INV", "DIR"]
    head: str
    cases: int
    failures: int
    examples: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def failure_rate(self) -> float:
        return self.failures / self.cases if self.cases else 0.0


def _read(name: str) -> list[dict[str, object]]:
    path = resources.files("escalate.affect.checklist").joinpath("suites", f"{name}.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _context(row: dict[str, object]) -> MessageContext | None:
    bot, user = row.get("context_bot"), row.get("context_user")
    if not bot and not user:
        return None
    return MessageContext(bot=str(bot) if bot else None, user=str(user) if user else None)


def load_suite(name: str, part: Literal["all", "dev", "test"] = "all") -> list[SuiteItem]:
    """The items of one labelled suite (:data:`SUITES`), or of its ``dev`` or ``test`` half."""
    if name not in SUITES:
        raise ValueError(f"name must be one of {', '.join(SUITES)}, got {name!r}")
    if part not in ("all", "dev", "test"):
        raise ValueError(f"part must be 'all', 'dev' or 'test', got {part!r}")
    items = [
        SuiteItem(
            text=str(row["text"]),
            label=int(str(row["label"])),
            kind=str(row.get("kind", "")),
            context=_context(row),
            group=str(row.get("pair_id") or row["text"]),
        )
        for row in _read(name)
    ]
    return items if part == "all" else [i for i in items if i.part == part]


def score_items(
    model: AffectModel, texts: Sequence[str], contexts: Sequence[MessageContext | None]
) -> list[AffectScores]:
    """Score messages with their contexts when the model reads context, else alone."""
    reader: Callable[..., list[AffectScores]] | None = getattr(model, "predict_in_context", None)
    if reader is not None:
        return reader(list(texts), list(contexts))
    return model.predict(list(texts))


def _head(scores: AffectScores, head: str) -> float | None:
    value = getattr(scores, head)
    return None if value is None else float(value)


def minimum_functionality(
    model: AffectModel,
    head: str,
    part: Literal["all", "dev", "test"] = "test",
    threshold: float = 0.5,
) -> CheckResult:
    """Accuracy of ``head`` at ``threshold`` on its labelled suite."""
    items = load_suite(head, part)
    scores = score_items(model, [i.text for i in items], [i.context for i in items])
    values = [_head(s, head) for s in scores]
    if any(v is None for v in values):
        return CheckResult(f"{head}: labelled messages", "MFT", head, 0, 0)
    pred = np.array([v is not None and v >= threshold for v in values])
    gold = np.array([i.label == 1 for i in items])
    wrong = [
        f"{i.text!r} (after {i.context.bot!r})" if i.context and i.context.bot else repr(i.text)
        for i, p, g in zip(items, pred, gold, strict=True)
        if p != g
    ]
    tp = float(np.sum(pred & gold))
    precision = tp / max(1.0, float(pred.sum()))
    recall = tp / max(1.0, float(gold.sum()))
    f1 = 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
    return CheckResult(
        f"{head}: labelled messages",
        "MFT",
        head,
        len(items),
        len(wrong),
        wrong[:8],
        {
            "accuracy": float(np.mean(pred == gold)),
            "precision": precision,
            "recall": recall,
            "f1": f1,
        },
    )


def _invariance_bases() -> list[tuple[str, int]]:
    path = resources.files("escalate.affect.checklist").joinpath("suites", "invariance_bases.jsonl")
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
    return [(str(r["text"]), int(r["label"])) for r in rows]


def invariance(
    model: AffectModel, threshold: float = 0.5, seed: int = 0, per_base: int = 6
) -> CheckResult:
    """Human-request decisions that flip when a message is perturbed.

    Each base message gets ``per_base`` perturbations: an aside from
    :data:`INVARIANCE_ASIDES` before, an aside after, a typo, a change of case, and two
    of them combined. A case fails when the decision (probability >= ``threshold``)
    differs from the decision on the base message.
    """
    rng = random.Random(seed)
    bases = _invariance_bases()
    variants: list[tuple[int, str]] = []
    for b, (text, _) in enumerate(bases):
        made = [
            with_aside(text, rng.choice(INVARIANCE_ASIDES), rng, where="before"),
            with_aside(text, rng.choice(INVARIANCE_ASIDES), rng, where="after"),
            add_typo(text, rng),
            change_case(text, rng),
            add_typo(with_aside(text, rng.choice(INVARIANCE_ASIDES), rng), rng),
            change_case(with_aside(text, rng.choice(INVARIANCE_ASIDES), rng), rng),
        ]
        variants.extend((b, v) for v in made[:per_base] if v != text)
    texts = [t for t, _ in bases] + [v for _, v in variants]
    scores = score_items(model, texts, [None] * len(texts))
    decided = [s.human_request >= threshold for s in scores]
    base_decision = decided[: len(bases)]
    failures = [
        f"{bases[b][0]!r} -> {v!r}"
        for (b, v), d in zip(variants, decided[len(bases) :], strict=True)
        if d != base_decision[b]
    ]
    base_errors = sum(d != (label == 1) for d, (_, label) in zip(base_decision, bases, strict=True))
    return CheckResult(
        "human_request: perturbations do not flip the decision",
        "INV",
        "human_request",
        len(variants),
        len(failures),
        failures[:8],
        {"base_accuracy": 1.0 - base_errors / len(bases)},
    )


def _direction_bases() -> list[tuple[str, MessageContext | None]]:
    path = resources.files("escalate.affect.checklist").joinpath("suites", "direction_bases.jsonl")
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
    return [(str(r["text"]), _context(r)) for r in rows]


def _add_phrase(text: str, phrase: str, rng: random.Random) -> str:
    """A sentence goes before or after the message; a phrase joins its end."""
    if phrase[:1].isupper():
        return with_aside(text, phrase, rng)
    stripped = text.rstrip()
    end = stripped[-1] if stripped[-1:] in ".?!" else ""
    body = stripped[:-1] if end else stripped
    return f"{body}, {phrase}{end}"


def direction(model: AffectModel, seed: int = 0) -> CheckResult:
    """Messages whose dissatisfaction falls (by more than :data:`DIRECTION_TOLERANCE`)
    when the customer adds that this is not the first time (:data:`DIRECTION_PHRASES`)."""
    rng = random.Random(seed)
    bases = _direction_bases()
    pairs: list[tuple[int, str]] = []
    for b, (text, _) in enumerate(bases):
        for phrase in rng.sample(DIRECTION_PHRASES, 2):
            pairs.append((b, _add_phrase(text, phrase, rng)))
    texts = [t for t, _ in bases] + [v for _, v in pairs]
    contexts = [c for _, c in bases] + [bases[b][1] for b, _ in pairs]
    scores = score_items(model, texts, contexts)
    values = [s.dissatisfaction for s in scores]
    known = [v for v in values if v is not None]
    if len(known) != len(values):
        return CheckResult(
            "dissatisfaction: a repeat never lowers it", "DIR", "dissatisfaction", 0, 0
        )
    base_values = known[: len(bases)]
    failures = []
    rises = []
    for (b, text), value in zip(pairs, known[len(bases) :], strict=True):
        rises.append(value - base_values[b])
        if value < base_values[b] - DIRECTION_TOLERANCE:
            failures.append(f"{bases[b][0]!r}: {base_values[b]:.2f} -> {text!r}: {value:.2f}")
    return CheckResult(
        "dissatisfaction: a repeat never lowers it",
        "DIR",
        "dissatisfaction",
        len(pairs),
        len(failures),
        failures[:8],
        {"mean_rise": float(np.mean(rises))},
    )


def run_checklist(
    model: AffectModel,
    part: Literal["all", "dev", "test"] = "test",
    threshold: float = 0.5,
    seed: int = 0,
) -> list[CheckResult]:
    """Every suite on ``model``: minimum functionality per head, invariance, direction."""
    results = [minimum_functionality(model, head, part, threshold) for head in SUITES]
    results.append(invariance(model, threshold, seed))
    results.append(direction(model, seed))
    return results
