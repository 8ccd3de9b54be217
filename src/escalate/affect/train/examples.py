"""The training examples of the affect model, from every source, with their targets.

Torch-free, so that the benchmarks and tests can rebuild the exact splits. Each
:class:`Example` is one customer message with what came before it (the bot's previous
message and the customer's previous message, when there are) and the targets it carries;
a head's loss skips the examples that carry no target for it.

Sources
-------
GoEmotions ``train``
    Sentiment (from the ``group`` labels) and the 28 emotions; not a request for a person.
TweetEval emotion ``train``
    Sentiment only: anger and sadness are negative, joy and optimism positive. Tweets
    widen the sentiment head beyond Reddit.
Bitext (the seeded 70 % split)
    Requests for a person (``contact_human_agent``) against every other intent; the
    ``complaint`` rows (split on their own) teach dissatisfaction.
USS MWOZ and SGD ``train`` dialogues
    Every user turn with its context; the dissatisfaction target is the share of
    annotators who rated the turn 2 or lower.
Written phrases (:mod:`escalate.affect.phrases`)
    Requests (callbacks, paraphrases, replies to an offer), questions about people that
    are not requests, vulnerable situations, and unhappy or neutral replies to bot
    messages.

Augmentation adds perturbed copies (an interjection or an unrelated sentence before or
after, a typo, a change of case) of requests, non-requests and vulnerable situations, with
the same targets, and requests joined to other requests. Every written message with a
distress target is also placed after bot messages (a greeting, a question, a USS bot turn)
and, half the time, after an earlier customer message (:func:`in_context`): the written
vulnerable situations mostly have no context, and without these copies the context head
learned that any message after a bot's reads as calm.

Examples
--------
>>> from escalate.affect.train.examples import Example
>>> Example("It's been four months.", bot="Refunds take 5-7 days.", dissatisfaction=1.0).heads()
['dissatisfaction']
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from escalate.affect.augment import add_typo, change_case, perturb
from escalate.affect.base import SENTIMENT_LABELS
from escalate.affect.data import (
    BITEXT_HUMAN_INTENT,
    BITEXT_REPORTED_INTENTS,
    TWEETEVAL_EMOTION_LABELS,
    TWEETEVAL_EMOTION_SENTIMENT,
    BitextRow,
    UssDialogue,
    bitext_split,
    read_bitext,
    read_goemotions,
    read_tweeteval,
    read_uss,
    uss_split,
)
from escalate.affect.phrases import INTERJECTIONS, written_examples

__all__ = [
    "COMPLAINT_INTENT",
    "HEADS",
    "REPEAT_PHRASES",
    "Example",
    "Splits",
    "complaint_split",
    "in_context",
    "training_examples",
    "uss_examples",
]

#: The heads a training example can carry a target for, besides sentiment and emotions.
HEADS: tuple[str, ...] = ("human_request", "dissatisfaction", "distress")

#: The Bitext intent whose rows teach dissatisfaction.
COMPLAINT_INTENT = "complaint"

#: Said by a customer who has had to come back: appended to a request, it makes the
#: customer dissatisfied (training only; the behavioural suites use their own phrases).
REPEAT_PHRASES: tuple[str, ...] = (
    "for the third time", "I've asked this twice already", "again!", "I already asked this yesterday",
    "this is my fourth message about it", "still waiting on this", "same as last week",
    "I've been chasing this for ages",
)  # fmt: skip


#: Bot messages a customer's first message follows, besides the USS bot turns.
OPENERS: tuple[str, ...] = (
    "Hi! How can I help you today?", "Hello, what can I do for you?",
    "Welcome back. What do you need help with?", "Hi there, I'm the virtual assistant. How can I help?",
    "Good morning! How may I assist you?", "What can I help you with today?",
    "Is there anything else I can help with?", "Can you tell me a bit more about that?",
    "Could you give me your account number, please?", "Can I ask why you'd like to cancel?",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Example:
    """One customer message, what came before it, and its targets (``None``: no target)."""

    text: str
    bot: str | None = None
    user: str | None = None
    sentiment: tuple[float, ...] | None = None
    emotions: tuple[float, ...] | None = None
    human_request: float | None = None
    dissatisfaction: float | None = None
    distress: float | None = None
    source: str = ""

    def heads(self) -> list[str]:
        """The heads this example carries a target for."""
        return [
            f.name
            for f in fields(self)
            if f.name not in ("text", "bot", "user", "source") and getattr(self, f.name) is not None
        ]


@dataclass(frozen=True, slots=True)
class Splits:
    """Which rows of the public datasets went where (row ids and dialogue indices)."""

    bitext: dict[str, list[int]]
    complaint: dict[str, list[int]]
    uss: dict[str, dict[str, list[int]]]


def complaint_split(rows: Sequence[BitextRow], seed: int) -> dict[str, list[BitextRow]]:
    """The Bitext ``complaint`` rows split 70 / 10 / 20 with a generator of their own (so
    the split of every other intent stays as :func:`bitext_split` makes it)."""
    group = sorted((r for r in rows if r.intent == COMPLAINT_INTENT), key=lambda r: r.index)
    rng = random.Random(f"{seed}-complaint")
    rng.shuffle(group)
    n_test, n_dev = round(len(group) * 0.2), round(len(group) * 0.1)
    out = {
        "test": group[:n_test],
        "dev": group[n_test : n_test + n_dev],
        "train": group[n_test + n_dev :],
    }
    return {k: sorted(v, key=lambda r: r.index) for k, v in out.items()}


_PERSON_WORDS = re.compile(
    r"\b(human|person|people|someone|somebody|agent|representative|operator|staff|manager)\b",
    re.IGNORECASE,
)


def uss_examples(dialogues: Sequence[UssDialogue]) -> list[Example]:
    """Every rated user turn of ``dialogues``, with context and its dissatisfaction share.

    The turns are also negatives of the request head: task-oriented users ask for rooms,
    trains and tables, not for a person, and without them the head meets a bot's previous
    message only in the written requests that answer an offer of a person. A turn that
    names a person ("someone", "agent") keeps no request target.
    """
    return [
        Example(
            turn.text,
            bot=context.bot,
            user=context.user,
            dissatisfaction=turn.dissatisfied_share,
            distress=0.0,
            human_request=None if _PERSON_WORDS.search(turn.text) else 0.0,
            source=f"uss-{dialogue.domain}",
        )
        for dialogue in dialogues
        for turn, context in dialogue.rated_turns()
    ]


def in_context(
    examples: Sequence[Example],
    bots: Sequence[str],
    users: Sequence[str],
    rng: random.Random,
    copies: int = 3,
) -> list[Example]:
    """``copies`` of each example with a distress target, placed in a conversation.

    Each copy follows a bot message (an opener from :data:`OPENERS` four times in ten,
    else one of ``bots``) and, half the time, an earlier customer message from ``users``;
    an example that has its own context keeps it in half its copies. Distress is said in
    the message itself, so the target stays. The other targets are left out: whether a
    vulnerable customer is also unhappy with the service depends on what the bot said.

    >>> e = Example("My dad died last week.", distress=1.0)
    >>> [c.distress for c in in_context([e], ["Which date?"], ["I need to close an account"],
    ...                                 random.Random(0), copies=2)]
    [1.0, 1.0]
    """
    out = []
    for example in examples:
        if example.distress is None:
            continue
        for _ in range(copies):
            bot = rng.choice(OPENERS) if rng.random() < 0.4 else rng.choice(bots)
            user = rng.choice(users) if rng.random() < 0.5 else None
            if example.bot is not None and rng.random() < 0.5:
                bot, user = example.bot, example.user
            out.append(
                Example(
                    example.text,
                    bot=bot,
                    user=user,
                    distress=example.distress,
                    source="distress-in-context",
                )
            )
    return out


def _one_hot(label: str) -> tuple[float, ...]:
    return tuple(1.0 if s == label else 0.0 for s in SENTIMENT_LABELS)


def training_examples(
    data_dir: Path,
    *,
    seed: int = 13,
    uss_domains: Sequence[str] = ("mwoz", "sgd"),
    limit: int | None = None,
    augment_copies: int = 2,
    uss_oversample: int = 2,
) -> tuple[list[Example], Splits]:
    """Every training example, and the splits they came from.

    ``uss_domains`` names the USS corpora trained on (a model for a leave-one-domain-out
    evaluation leaves one out). ``limit`` caps the GoEmotions rows (for quick runs).
    ``augment_copies`` perturbed copies are added per request, non-request and vulnerable
    situation; ``uss_oversample`` extra copies of each USS turn that most annotators
    rated 2 or lower (they are rare: about one turn in 150).
    """
    rng = random.Random(seed)
    out: list[Example] = []

    goemotions = read_goemotions(data_dir, "train")
    if limit:
        goemotions = rng.sample(goemotions, min(limit, len(goemotions)))
    for row in goemotions:
        sent = row.sentiment_target()
        emo = row.emotion_target()
        out.append(
            Example(
                row.text,
                sentiment=tuple(sent) if sent else None,
                emotions=emo,
                human_request=0.0,
                source="goemotions",
            )
        )

    texts, labels = read_tweeteval(data_dir, "emotion", "train")
    for text, label in zip(texts, labels, strict=True):
        polarity = TWEETEVAL_EMOTION_SENTIMENT[TWEETEVAL_EMOTION_LABELS[label]]
        out.append(
            Example(text, sentiment=_one_hot(polarity), human_request=0.0, source="tweeteval")
        )

    rows = read_bitext(data_dir)
    split = bitext_split(rows, seed=seed)
    complaints = complaint_split(rows, seed)
    others = [r.text for r in split["train"] if r.intent != BITEXT_HUMAN_INTENT]
    for brow in split["train"]:
        request = brow.intent == BITEXT_HUMAN_INTENT
        base = Example(
            brow.text,
            human_request=float(request),
            # swearing at a request may be annoyance with the service: no target
            dissatisfaction=None if "W" in brow.tags else 0.0,
            distress=0.0,
            source="bitext",
        )
        out.append(base)
        copies = augment_copies if request else int(rng.random() < 0.3)
        out.extend(_perturbed(base, copies, rng, others))
    for brow in complaints["train"]:
        base = Example(brow.text, dissatisfaction=1.0, distress=0.0, source="bitext-complaint")
        out.append(base)
        out.append(_retyped(base, rng))

    uss_ids: dict[str, dict[str, list[int]]] = {}
    bots: set[str] = set()
    customers: set[str] = set()
    for domain in uss_domains:
        parts = uss_split(read_uss(data_dir, domain), seed=seed)
        uss_ids[domain] = {k: [d.index for d in v] for k, v in parts.items()}
        for example in uss_examples(parts["train"]):
            out.append(example)
            if (example.dissatisfaction or 0.0) >= 0.5:
                out.extend([example] * uss_oversample)
        bots.update(t.text for d in parts["train"] for t in d.turns if t.role != "user" and t.text)
        customers.update(t.text for d in parts["train"] for t in d.turns if t.role == "user")

    requests = [r.text for r in split["train"] if r.intent not in BITEXT_REPORTED_INTENTS]
    for written in written_examples(seed):
        target = {head: written.target if head == written.head else None for head in HEADS}
        base = Example(
            written.text,
            bot=written.bot,
            user=written.user,
            human_request=target["human_request"],
            dissatisfaction=target["dissatisfaction"],
            distress=target["distress"],
            source=f"written-{written.head}",
        )
        out.append(base)
        if written.head == "dissatisfaction":
            out.append(_retyped(base, rng))
        else:
            out.extend(_perturbed(base, augment_copies, rng, others))
    for _ in range(300):
        text = rng.choice(requests)
        phrase = rng.choice(REPEAT_PHRASES)
        joined = (
            f"{text}, {phrase}"
            if rng.random() < 0.6
            else f"{phrase[:1].upper()}{phrase[1:]}. {text}"
        )
        out.append(Example(joined, dissatisfaction=1.0, source="written-repeat"))
    human = [e for e in out if e.human_request == 1.0 and e.bot is None]
    for _ in range(300):
        first, second = rng.choice(human).text, rng.choice(others)
        pair = (first, second) if rng.random() < 0.5 else (second, first)
        out.append(Example(f"{pair[0]}. {pair[1]}", human_request=1.0, source="joined"))
        a, b = rng.sample(others, 2)
        out.append(Example(f"{a}. {b}", human_request=0.0, source="joined"))

    vulnerable = [e for e in out if e.source == "written-distress"]
    placed = random.Random(seed + 1)  # its own stream: the examples above stay as they were
    # earlier customer messages: support requests, and the task turns of USS dialogues
    # (every USS turn is a distress negative, so without vulnerable customers after such
    # turns the head learns that a task conversation is never one)
    out.extend(in_context(vulnerable, sorted(bots), [*others, *sorted(customers)], placed))

    splits = Splits(
        bitext={k: [r.index for r in v] for k, v in split.items()},
        complaint={k: [r.index for r in v] for k, v in complaints.items()},
        uss=uss_ids,
    )
    return out, splits


def _perturbed(
    example: Example, copies: int, rng: random.Random, sentences: Sequence[str]
) -> list[Example]:
    """``copies`` perturbed copies with the same targets: an interjection or (for a
    request or a non-request, not for a vulnerable situation) another request."""
    out = []
    for _ in range(copies):
        asides: Sequence[str] = INTERJECTIONS
        if example.human_request is not None and rng.random() < 0.3:
            asides = [rng.choice(sentences)]
        out.append(_replace_text(example, perturb(example.text, rng, asides)))
    return out


def _retyped(example: Example, rng: random.Random) -> Example:
    """A copy with a typo or another case: nothing that could change its meaning."""
    text = add_typo(example.text, rng) if rng.random() < 0.5 else change_case(example.text, rng)
    return _replace_text(example, text)


def _replace_text(example: Example, text: str) -> Example:
    return dataclasses.replace(example, text=text, source=example.source + "+aug")
