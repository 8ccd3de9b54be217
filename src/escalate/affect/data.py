"""Readers for the public datasets the affect model is trained and evaluated on.

Only the standard library and numpy are used here, so the benchmarks can recover the exact
training splits without torch. The data folder defaults to ``$ESCALATE_DATA`` or, failing
that, ``../shared/data`` relative to the working directory.

Examples
--------
>>> from escalate.affect.data import default_data_dir
>>> default_data_dir().name  # doctest: +SKIP
'data'
"""

from __future__ import annotations

import csv
import os
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from escalate.affect.base import EMOTION_LABELS, SENTIMENT_LABELS, MessageContext

_T = TypeVar("_T")

__all__ = [
    "BITEXT_HUMAN_INTENT",
    "BITEXT_REPORTED_INTENTS",
    "EXTRA_HUMAN_NEGATIVES",
    "EXTRA_HUMAN_POSITIVES",
    "GROUP_LABELS",
    "TWEETEVAL_EMOTION_LABELS",
    "TWEETEVAL_EMOTION_MAP",
    "TWEETEVAL_EMOTION_SENTIMENT",
    "USS_DOMAINS",
    "BitextRow",
    "GoEmotionsRow",
    "UssDialogue",
    "UssTurn",
    "bitext_split",
    "default_data_dir",
    "read_bitext",
    "read_goemotions",
    "read_tweeteval",
    "read_uss",
    "uss_split",
]

#: GoEmotions sentiment groups, in ``goemotions/group/labels.txt`` order.
GROUP_LABELS: tuple[str, ...] = ("ambiguous", "negative", "neutral", "positive")

#: The Bitext intent whose utterances are human requests.
BITEXT_HUMAN_INTENT = "contact_human_agent"

#: Bitext intents that are neither trained on nor counted in the held-out split; the
#: benchmark reports the share of them flagged as human requests.
BITEXT_REPORTED_INTENTS: tuple[str, ...] = ("contact_customer_service", "complaint")

#: TweetEval emotion classes (``tweeteval/emotion/mapping.txt``).
TWEETEVAL_EMOTION_LABELS: tuple[str, ...] = ("anger", "joy", "optimism", "sadness")

#: Which GoEmotions labels feed each TweetEval emotion class; a class scores the highest
#: probability among its members and the prediction is the highest-scoring class.
TWEETEVAL_EMOTION_MAP: dict[str, tuple[str, ...]] = {
    "anger": ("anger", "annoyance", "disgust", "disapproval"),
    "joy": ("joy", "amusement", "excitement", "love", "gratitude", "admiration", "pride"),
    "optimism": ("optimism", "desire", "caring", "approval", "relief"),
    "sadness": ("sadness", "grief", "disappointment", "remorse", "fear", "nervousness"),
}

#: The sentiment each TweetEval emotion class carries (it has no neutral class).
TWEETEVAL_EMOTION_SENTIMENT: dict[str, str] = {
    "anger": "negative",
    "joy": "positive",
    "optimism": "positive",
    "sadness": "negative",
}

#: User Satisfaction Simulation corpora (``uss/<name>.txt``), by domain name.
USS_DOMAINS: dict[str, str] = {"mwoz": "MWOZ.txt", "sgd": "SGD.txt"}

#: Human requests written for this project to widen the Bitext phrasing (training only).
EXTRA_HUMAN_POSITIVES: tuple[str, ...] = (
    "let me speak to a human",
    "I want to talk to a real person please",
    "put me through to someone who can actually help",
    "can I talk to an actual human being",
    "stop, I need a human",
    "transfer me to an agent",
    "connect me with a live agent",
    "is there a person I can talk to?",
    "human please",
    "agent!",
    "representative",
    "speak to a representative",
    "I'd like to speak with a manager",
    "let me talk to your supervisor",
    "you are useless, get me a human",
    "this bot is not helping, I want a person",
    "can someone from your team call me",
    "I need to speak to somebody, not a machine",
    "please escalate this to a human agent",
    "hand me over to a real agent",
    "operator",
    "talk to a live person",
    "I want a real human to look at this",
    "get someone on the line",
    "can a staff member help me",
    "I'd rather speak to a person than a bot",
    "are there any humans working there? I need one",
    "put a human on this chat",
    "forward me to customer service staff, a real person",
    "I demand to speak to a manager",
    "no more bots, a person please",
    "can I chat with a live agent",
    "need a real agent now",
    "let me talk to someone",
    "give me a human",
    "i want to speak to someone in person",
    "could you transfer me to a human representative",
    "pass me to one of your colleagues",
    "can I get a callback from a person",
    "get me someone who isn't a robot",
)

#: Messages that mention people, agents or numbers but do not ask for a human (training only).
EXTRA_HUMAN_NEGATIVES: tuple[str, ...] = (
    "my agent number is 17",
    "the agent I spoke to yesterday was very helpful, thanks",
    "a person in your store charged me twice",
    "my account manager changed my address",
    "I am a real person, why do you ask for a captcha",
    "the delivery person left the parcel outside",
    "thanks, you solved it",
    "my insurance agent needs the invoice",
    "how many people can share one account?",
    "the human resources department needs a receipt",
    "my manager asked me to get an invoice",
    "the representative number on my contract is 55",
    "what is the status of my order",
    "I talked to my wife and we want to cancel",
    "the courier said someone signed for it",
    "can you tell me the opening hours",
    "my travel agent booked this",
    "your agent already fixed it, all good now",
    "who is the person named on the invoice",
    "I want to change my shipping address",
    "the operator code on the receipt is 7",
    "somebody at my house will receive it",
    "I need help with my password",
    "the bot answered my question, great",
)


@dataclass(frozen=True, slots=True)
class GoEmotionsRow:
    """One GoEmotions text with its emotion ids and sentiment-group ids."""

    id: str
    text: str
    emotions: tuple[int, ...]
    groups: tuple[int, ...] = field(default=())

    @property
    def sentiment(self) -> str | None:
        """The single non-ambiguous sentiment, or ``None`` when none or several apply.

        ``ambiguous`` is set aside: a text whose only group is ambiguous has no sentiment,
        and a text that is ambiguous and one other group takes that other group.
        """
        named = {GROUP_LABELS[g] for g in self.groups} - {"ambiguous"}
        return next(iter(named)) if len(named) == 1 else None

    def emotion_target(self) -> tuple[float, ...]:
        """Multi-hot target over :data:`EMOTION_LABELS`: 1.0 for each of the text's emotions."""
        return tuple(1.0 if i in self.emotions else 0.0 for i in range(len(EMOTION_LABELS)))

    def sentiment_target(self) -> list[float] | None:
        """Soft target over :data:`SENTIMENT_LABELS`, or ``None`` for ambiguous-only texts."""
        named = {GROUP_LABELS[g] for g in self.groups} - {"ambiguous"}
        if not named:
            return None
        return [1.0 / len(named) if s in named else 0.0 for s in SENTIMENT_LABELS]


@dataclass(frozen=True, slots=True)
class BitextRow:
    """One Bitext utterance; ``index`` is its 0-based row in the CSV; ``tags`` are Bitext's
    language-variation letters (``W``: offensive words, ``Z``: typos, ``Q``: colloquial...)."""

    index: int
    text: str
    intent: str
    tags: str = ""


@dataclass(frozen=True, slots=True)
class UssTurn:
    """One turn of a USS dialogue: ``role`` is ``user`` or ``bot``; ``ratings`` are the
    annotators' 1-5 satisfaction ratings of a user turn (empty for bot turns)."""

    role: str
    text: str
    intent: str
    ratings: tuple[float, ...] = ()

    @property
    def dissatisfied_share(self) -> float | None:
        """Share of annotators who rated this user turn 2 or lower, or ``None`` unrated."""
        if not self.ratings:
            return None
        return sum(r <= 2 for r in self.ratings) / len(self.ratings)

    @property
    def mean_rating(self) -> float | None:
        """Mean annotator rating, or ``None`` for an unrated turn."""
        return sum(self.ratings) / len(self.ratings) if self.ratings else None


@dataclass(frozen=True, slots=True)
class UssDialogue:
    """One USS dialogue: ``domain`` (``mwoz`` or ``sgd``), its 0-based ``index`` in the
    file, and its turns (the final ``OVERALL`` rating is not a turn)."""

    domain: str
    index: int
    turns: tuple[UssTurn, ...]

    @property
    def id(self) -> str:
        return f"uss-{self.domain}-{self.index:04d}"

    @property
    def needs_human(self) -> bool:
        """True when some user turn has a mean rating of 2 or lower."""
        return any(t.mean_rating is not None and t.mean_rating <= 2 for t in self.turns)

    def rated_turns(self) -> Iterator[tuple[UssTurn, MessageContext]]:
        """Each rated user turn with text, and what came before it: the bot's previous
        message and the customer's previous message."""
        bot: str | None = None
        user: str | None = None
        for turn in self.turns:
            if turn.role == "bot":
                bot = turn.text or None
                continue
            if turn.text and turn.ratings:
                yield turn, MessageContext(bot=bot, user=user)
            user = turn.text or user


def default_data_dir() -> Path:
    """``$ESCALATE_DATA`` when set, else ``../shared/data``."""
    env = os.environ.get("ESCALATE_DATA")
    return Path(env) if env else Path("..") / "shared" / "data"


def _read_tsv(path: Path) -> list[tuple[str, tuple[int, ...], str]]:
    rows = []
    with path.open(encoding="utf-8", newline="") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            labels = tuple(int(x) for x in parts[1].split(",") if x)
            rows.append((parts[0], labels, parts[2]))
    return rows


def read_goemotions(data_dir: Path, split: str) -> list[GoEmotionsRow]:
    """GoEmotions ``split`` (train, dev or test) with 28-label and group labels joined by id."""
    base = Path(data_dir) / "goemotions"
    original = _read_tsv(base / "original" / f"{split}.tsv")
    labels = (base / "original" / "labels.txt").read_text(encoding="utf-8").split()
    if tuple(labels) != EMOTION_LABELS:
        raise ValueError(f"unexpected GoEmotions label order in {base / 'original/labels.txt'}")
    groups = {rid: g for _, g, rid in _read_tsv(base / "group" / f"{split}.tsv")}
    return [GoEmotionsRow(rid, text, emo, groups.get(rid, ())) for text, emo, rid in original]


def read_tweeteval(data_dir: Path, task: str, split: str) -> tuple[list[str], list[int]]:
    """TweetEval ``task`` (sentiment or emotion) texts and integer labels for ``split``."""
    base = Path(data_dir) / "tweeteval" / task
    texts = (base / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = [int(x) for x in (base / f"{split}_labels.txt").read_text().split()]
    if len(texts) != len(labels):
        raise ValueError(f"{base}: {len(texts)} texts but {len(labels)} labels in {split}")
    return [t.strip() for t in texts], labels


def read_bitext(data_dir: Path) -> list[BitextRow]:
    """All Bitext customer-support utterances, in file order."""
    path = Path(data_dir) / "bitext" / "customer_support_6k.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            BitextRow(i, row["instruction"].strip(), row["intent"], row.get("tags") or "")
            for i, row in enumerate(csv.DictReader(fh))
        ]


def bitext_split(
    rows: list[BitextRow], *, seed: int = 13, dev: float = 0.1, test: float = 0.2
) -> dict[str, list[BitextRow]]:
    """Stratified, seeded train/dev/test split of Bitext (by intent).

    The intents in :data:`BITEXT_REPORTED_INTENTS` go to a separate ``reported`` list and
    into no split. The same ``rows`` and ``seed`` always give the same split.
    """
    by_intent: dict[str, list[BitextRow]] = defaultdict(list)
    for row in rows:
        by_intent[row.intent].append(row)
    out: dict[str, list[BitextRow]] = {"train": [], "dev": [], "test": [], "reported": []}
    rng = random.Random(seed)
    for intent in sorted(by_intent):
        group = sorted(by_intent[intent], key=lambda r: r.index)
        if intent in BITEXT_REPORTED_INTENTS:
            out["reported"].extend(group)
            continue
        _deal(group, rng, dev, test, out)
    for key in out:
        out[key].sort(key=lambda r: r.index)
    return out


def _deal(
    group: list[_T], rng: random.Random, dev: float, test: float, out: dict[str, list[_T]]
) -> None:
    """Shuffle ``group`` and deal it into ``out``'s test, dev and train lists."""
    rng.shuffle(group)
    n_test = round(len(group) * test)
    n_dev = round(len(group) * dev)
    out["test"].extend(group[:n_test])
    out["dev"].extend(group[n_test : n_test + n_dev])
    out["train"].extend(group[n_test + n_dev :])


def read_uss(data_dir: Path, domain: str) -> list[UssDialogue]:
    """The dialogues of one User Satisfaction Simulation corpus (``mwoz`` or ``sgd``).

    Lines are ``ROLE<TAB>text<TAB>action<TAB>sat1,sat2,...``; dialogues are separated by
    blank lines; the ``USER<TAB>OVERALL`` line rates the whole dialogue and is skipped.
    """
    if domain not in USS_DOMAINS:
        raise ValueError(f"domain must be one of {', '.join(USS_DOMAINS)}, got {domain!r}")
    path = Path(data_dir) / "uss" / USS_DOMAINS[domain]
    dialogues: list[UssDialogue] = []
    block: list[UssTurn] = []

    def close() -> None:
        if block:
            dialogues.append(UssDialogue(domain, len(dialogues), tuple(block)))
            block.clear()

    with path.open(encoding="utf-8") as stream:
        for raw in stream:
            line = raw.rstrip("\n")
            if not line.strip():
                close()
                continue
            role, text, action, sats = [*line.split("\t"), "", "", ""][:4]
            if role == "USER" and text == "OVERALL":
                continue
            ratings = (
                tuple(float(x) for x in sats.split(",") if x.strip()) if role == "USER" else ()
            )
            block.append(
                UssTurn("user" if role == "USER" else "bot", text.strip(), action.strip(), ratings)
            )
    close()
    return dialogues


def uss_split(
    dialogues: list[UssDialogue], *, seed: int = 13, dev: float = 0.15, test: float = 0.15
) -> dict[str, list[UssDialogue]]:
    """Seeded train/dev/test split of one USS corpus by dialogue, stratified by whether
    the dialogue needed a human (so each split keeps the corpus's rate)."""
    out: dict[str, list[UssDialogue]] = {"train": [], "dev": [], "test": []}
    rng = random.Random(f"{seed}-{dialogues[0].domain if dialogues else ''}")
    for needs in (True, False):
        _deal([d for d in dialogues if d.needs_human == needs], rng, dev, test, out)
    for key in out:
        out[key].sort(key=lambda d: d.index)
    return out
