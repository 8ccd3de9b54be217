"""History signals: what the customer's earlier contacts say about this one.

A customer who comes back about the same problem is the one a bot must not deflect
again. The engine computes these signals when a conversation starts and once more when
its topic becomes known:

- the **topic** is the first topical intent of a user turn (intents that only say "a
  person, please", "hello" or "that's wrong" are not topics), or, while there is none,
  the first user message of at least three words;
- an earlier contact is on the **same topic** when it has the same topic (intent), or —
  when the conversation has no intent — when its text is close to this conversation's
  text by embedding (cosine similarity at or above a threshold). In that case the
  nearest such contact's topic, if it has one, becomes this conversation's topic too.

Every window ends at the start of this conversation and counts only *earlier* contacts
of the same customer (never this conversation itself). Without a customer id every
history signal is unknown (and so every comparison with it false).

Caller-supplied customer attributes become ``customer.*`` signals; the policy language
compares numbers, so each attribute must be a number or true/false (1/0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from escalate.errors import InputError
from escalate.models import ContactRecord, Turn
from escalate.signals.catalog import CUSTOMER_ATTRIBUTES, HISTORY_SIGNALS

if TYPE_CHECKING:
    from escalate.affect.embedding import TextEmbedder
    from escalate.signals.dialogue import DialogueConfig
    from escalate.stores.history import HistoryStore

__all__ = [
    "LOOKBACK",
    "NON_TOPIC_INTENTS",
    "HistoryLookup",
    "TopicSource",
    "customer_signals",
    "history_signals",
    "topic_of",
    "unknown_history",
]

#: How far back the history signals look (the longest window).
LOOKBACK = timedelta(days=30)
#: Most earlier contacts read per lookup (newest first); more is a bot, not a customer.
MAX_CONTACTS = 500
#: Intents that say how the conversation goes rather than what it is about.
NON_TOPIC_INTENTS = frozenset(
    {
        "greet",
        "greeting",
        "hello",
        "goodbye",
        "bye",
        "affirm",
        "yes",
        "no",
        "thanks",
        "thank_you",
        "thankyou",
        "chitchat",
        "smalltalk",
        "out_of_scope",
        "bot_challenge",
        "nlu_fallback",
        "fallback",
    }
)
#: Fewest words a message needs to set the topic by its text.
MIN_TOPIC_WORDS = 3
#: Longest text kept for matching topics.
MAX_TOPIC_TEXT = 2_000

TopicSource = Literal["intent", "text"]

_DAY = timedelta(days=1)
_WINDOWS: dict[str, timedelta] = {"24h": _DAY, "7d": 7 * _DAY, "30d": 30 * _DAY}


def unknown_history() -> dict[str, float | None]:
    """Every history signal, unknown."""
    return dict.fromkeys(HISTORY_SIGNALS)


def topic_of(
    turn: Turn, config: DialogueConfig | None = None
) -> tuple[str | None, TopicSource | None]:
    """What a user turn says the conversation is about.

    Returns ``(intent, "intent")`` for a topical intent, ``(None, "text")`` for a message
    of at least :data:`MIN_TOPIC_WORDS` words without one, else ``(None, None)``.

    Examples
    --------
    >>> topic_of(Turn(role="user", text="hi", intent="track_parcel"))
    ('track_parcel', 'intent')
    >>> topic_of(Turn(role="user", text="my parcel never arrived"))
    (None, 'text')
    >>> topic_of(Turn(role="user", text="hello", intent="greet"))
    (None, None)
    """
    if turn.role != "user":
        return None, None
    if turn.intent:
        intent = turn.intent.strip().lower()
        ignored = set(NON_TOPIC_INTENTS)
        if config is not None:
            for group in (
                config.fallback_intents,
                config.reprompt_intents,
                config.negation_intents,
                config.human_request_intents,
            ):
                ignored.update(i.lower() for i in group)
        if intent and intent not in ignored:
            return turn.intent, "intent"
    if turn.text and len(turn.text.split()) >= MIN_TOPIC_WORDS:
        return None, "text"
    return None, None


def customer_signals(attributes: Mapping[str, object] | None) -> dict[str, float]:
    """Caller-supplied customer attributes as ``customer.*`` signal values.

    Keys may be given with or without the ``customer.`` prefix. Numbers stay numbers,
    ``True``/``False`` become 1/0 and ``None`` means unknown (left out).

    Raises
    ------
    InputError
        An unknown attribute, or a value that is not a finite number or true/false.

    Examples
    --------
    >>> customer_signals({"tier": 2, "vulnerable": True})
    {'customer.tier': 2.0, 'customer.vulnerable': 1.0}
    """
    out: dict[str, float] = {}
    if not attributes:
        return out
    if not isinstance(attributes, Mapping):
        raise InputError(
            f"must be a mapping of attribute names to numbers, got {type(attributes).__name__}",
            field="customer",
        )
    for key, value in attributes.items():
        name = key if str(key).startswith("customer.") else f"customer.{key}"
        if name not in CUSTOMER_ATTRIBUTES:
            known = ", ".join(n.removeprefix("customer.") for n in CUSTOMER_ATTRIBUTES)
            raise InputError(f"unknown customer attribute; known: {known}", field=name)
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = 1.0 if value else 0.0
        elif isinstance(value, int | float) and math.isfinite(value):
            out[name] = float(value)
        else:
            raise InputError(
                f"must be a finite number or true/false (policies compare numbers; give a "
                f"tier as a rank such as 0 standard, 1 silver, 2 gold), got {value!r}",
                field=name,
            )
    return out


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def history_signals(
    contacts: Sequence[ContactRecord],
    *,
    now: datetime,
    conversation_id: str | None = None,
    topic: str | None = None,
    text: str | None = None,
    embedder: TextEmbedder | None = None,
    similarity: float = 0.5,
    last_contact_at: datetime | None = None,
) -> tuple[dict[str, float | None], str | None]:
    """The history signals from a customer's earlier contacts; a pure function.

    Parameters
    ----------
    contacts:
        Earlier contacts of the customer (any order); those not strictly before ``now``
        and the contact of ``conversation_id`` itself are ignored.
    now:
        When this conversation started; every window ends here.
    topic, text:
        This conversation's topic (an intent) and its topic text. With neither, the
        same-topic signals are unknown; with only ``text``, same topic means similar text.
    embedder, similarity:
        How texts are compared, and the cosine similarity from which two count as the same
        problem.
    last_contact_at:
        When the latest earlier contact ended, for a customer with none in ``contacts``.

    Returns
    -------
    tuple
        The signal values, and the topic taken from the nearest similar earlier contact
        (``None`` unless it was matched by text and has one).

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> now = datetime(2026, 5, 8, 12, tzinfo=UTC)
    >>> earlier = [ContactRecord(customer_id="u1", conversation_id=f"c{i}", topic="refund",
    ...            started_at=now - timedelta(days=i), outcome="abandoned") for i in (1, 3, 20)]
    >>> values, _ = history_signals(earlier, now=now, topic="refund")
    >>> values["history.contacts_same_topic_7d"], values["history.unresolved_30d"]
    (2.0, 3.0)
    """
    now = _aware(now)
    since = now - LOOKBACK
    earlier = [
        c
        for c in contacts
        if c.conversation_id != conversation_id and since <= _aware(c.started_at) < now
    ]
    earlier.sort(key=lambda c: _aware(c.started_at), reverse=True)
    same = _same_topic(earlier, topic, text, embedder, similarity)
    adopted: str | None = None
    if same is not None and topic is None and same[1] is not None:
        adopted = same[1]

    values = unknown_history()
    for label, span in _WINDOWS.items():
        values[f"history.contacts_{label}"] = float(
            sum(1 for c in earlier if _aware(c.started_at) >= now - span)
        )
    unresolved = [c for c in earlier if c.outcome != "resolved"]
    values["history.unresolved_30d"] = float(len(unresolved))
    values["history.handoffs_30d"] = float(sum(1 for c in earlier if c.outcome == "handed_off"))
    values["history.abandoned_30d"] = float(sum(1 for c in earlier if c.outcome == "abandoned"))
    if same is not None:
        matched = same[0]
        values["history.contacts_same_topic_7d"] = float(
            sum(1 for c in matched if _aware(c.started_at) >= now - 7 * _DAY)
        )
        values["history.contacts_same_topic_30d"] = float(len(matched))
        values["history.unresolved_same_topic_30d"] = float(
            sum(1 for c in matched if c.outcome != "resolved")
        )
    latest: datetime | None = None
    if earlier:
        latest = max(min(_aware(c.ended_at or c.started_at), now) for c in earlier)
        scored = [c for c in earlier if c.final_sentiment is not None]
        if scored:
            values["history.last_sentiment"] = scored[0].final_sentiment
    elif last_contact_at is not None and _aware(last_contact_at) < now:
        latest = _aware(last_contact_at)
    if latest is not None:
        values["history.hours_since_last_contact"] = (now - latest).total_seconds() / 3600.0
    return values, adopted


def _same_topic(
    earlier: list[ContactRecord],
    topic: str | None,
    text: str | None,
    embedder: TextEmbedder | None,
    similarity: float,
) -> tuple[list[ContactRecord], str | None] | None:
    """The earlier contacts on this conversation's topic, and the nearest one's topic."""
    if topic is not None:
        wanted = topic.lower()
        return [c for c in earlier if c.topic is not None and c.topic.lower() == wanted], None
    if not text:
        return None
    with_text = [c for c in earlier if c.text]
    if not with_text or embedder is None:
        return [], None
    vectors = embedder.embed(
        [text[:MAX_TOPIC_TEXT], *(c.text[:MAX_TOPIC_TEXT] for c in with_text if c.text)]
    )
    sims = vectors[1:] @ vectors[0]
    order = sorted(range(len(with_text)), key=lambda i: -float(sims[i]))
    matched = [with_text[i] for i in order if float(sims[i]) >= similarity]
    nearest_topic = matched[0].topic if matched else None
    if nearest_topic is not None:
        wanted = nearest_topic.lower()
        ids = {c.conversation_id for c in matched}
        matched += [
            c
            for c in earlier
            if c.conversation_id not in ids and c.topic is not None and c.topic.lower() == wanted
        ]
    return matched, nearest_topic


@dataclass(frozen=True, slots=True)
class HistoryLookup:
    """Reads a customer's earlier contacts from a store and computes the history signals.

    Parameters
    ----------
    store:
        The history store, or ``None`` for an empty history (every count 0).
    embedder:
        Compares texts for conversations without an intent.
    similarity:
        Cosine similarity from which two texts count as the same problem.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> from escalate.affect.embedding import HashingEmbedder
    >>> lookup = HistoryLookup(None, HashingEmbedder())
    >>> values, _ = lookup.signals("u1", now=datetime(2026, 5, 1, tzinfo=UTC))
    >>> values["history.contacts_7d"], values["history.hours_since_last_contact"]
    (0.0, None)
    """

    store: HistoryStore | None
    embedder: TextEmbedder | None
    similarity: float = 0.5

    def signals(
        self,
        customer_id: str | None,
        *,
        now: datetime,
        conversation_id: str | None = None,
        topic: str | None = None,
        text: str | None = None,
    ) -> tuple[dict[str, float | None], str | None]:
        """The history signals of ``customer_id`` at ``now``; raises what the store raises."""
        if customer_id is None:
            return unknown_history(), None
        now = _aware(now)
        contacts: list[ContactRecord] = []
        last: datetime | None = None
        if self.store is not None:
            contacts = self.store.recent(
                customer_id, since=now - LOOKBACK, until=now, limit=MAX_CONTACTS
            )
            if not any(c.conversation_id != conversation_id for c in contacts):
                last = self.store.last_contact_at(customer_id, before=now - LOOKBACK)
        return history_signals(
            contacts,
            now=now,
            conversation_id=conversation_id,
            topic=topic,
            text=text,
            embedder=self.embedder,
            similarity=self.similarity,
            last_contact_at=last,
        )
