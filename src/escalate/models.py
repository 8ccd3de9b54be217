"""Typed data that crosses escalate's edges: turns, conversations, signals, decisions, packets.

Every model is a pydantic v2 model, so a bad record fails with an error that names the
field. Conversations travel as JSON Lines, one conversation per line (see the README).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from escalate.errors import InputError

__all__ = [
    "MAX_TEXT_CHARS",
    "MAX_TURNS",
    "MAX_YEAR",
    "MIN_YEAR",
    "Action",
    "BotAttempt",
    "ContactRecord",
    "Conversation",
    "Decision",
    "Fact",
    "FactType",
    "Failure",
    "HandoffPacket",
    "Label",
    "Outcome",
    "Priority",
    "Quote",
    "Reason",
    "Role",
    "Signals",
    "Turn",
    "TurnAffect",
]

#: Longest message text accepted, in characters. Longer input is rejected, not truncated,
#: so that nothing is silently lost.
MAX_TEXT_CHARS = 20_000
#: Most turns accepted in one conversation.
MAX_TURNS = 5_000
#: The years a turn's timestamp may fall in. Times at the ends of what ``datetime`` holds
#: (year 1, year 9999) overflow when shifted to UTC or by the history's time windows.
MIN_YEAR, MAX_YEAR = 1900, 9000

Role = Literal["user", "bot", "agent", "system"]
Action = Literal["continue", "offer_human", "handoff", "offer_callback"]
Priority = Literal["low", "normal", "high", "urgent"]
#: How a contact ended: the bot resolved it, a human took over, or the customer left.
Outcome = Literal["resolved", "handed_off", "abandoned"]

#: How strongly each action involves a human; used by the cooldown guard.
ACTION_STRENGTH: dict[str, int] = {
    "continue": 0,
    "offer_callback": 1,
    "offer_human": 2,
    "handoff": 3,
}


class _Model(BaseModel):
    """Base of escalate's models: building one from invalid values raises
    :class:`~escalate.errors.InputError` naming the field.

    ``model_validate`` and ``model_validate_json`` keep pydantic's ``ValidationError``,
    which lists every problem (the readers report them with their line).
    """

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InputError.from_validation(exc) from None

    # Tell pydantic this is its own __init__ in all but the error type: validation
    # (nested models, model_validate) then never calls it, and keeps ValidationError.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


class Turn(_Model):
    """One message in a conversation.

    A turn needs at least one of ``text``, ``intent`` or ``event``: logs from bots that
    keep only NLU/NLG intents carry no text. The text may be empty: real logs hold
    messages that were an attachment or a sticker. Such a turn is kept (it counts as a
    turn) but not scored by the affect model.

    Examples
    --------
    >>> Turn(role="user", text="Where is my order?").role
    'user'
    >>> Turn(role="bot", event="fallback").text is None
    True
    >>> Turn(role="user", text="").has_text
    False
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    timestamp: datetime | None = None
    intent: str | None = Field(default=None, max_length=200)
    event: str | None = Field(default=None, max_length=200)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timestamp")
    @classmethod
    def _plausible_time(cls, value: datetime | None) -> datetime | None:
        if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
            raise ValueError(
                f"must be a time between the years {MIN_YEAR} and {MAX_YEAR}; got {value.isoformat()}"
            )
        return value

    @model_validator(mode="after")
    def _has_content(self) -> Turn:
        if self.text is None and not self.intent and not self.event:
            raise ValueError("a turn needs a text (which may be empty), an intent or an event")
        return self

    @property
    def has_text(self) -> bool:
        """True when the turn has a text with something other than white space."""
        return bool(self.text and self.text.strip())


class Label(_Model):
    """What should have happened in a historical conversation.

    ``turn`` is the 0-based index into ``turns`` of the turn at which a human should
    have taken over; it is only meaningful when ``escalate`` is true.

    Examples
    --------
    >>> Label(escalate=True, turn=4).turn
    4
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    escalate: bool
    turn: int | None = Field(default=None, ge=0)


class Conversation(_Model):
    """A whole conversation, as stored in a JSON Lines archive.

    ``domain`` optionally names where the conversation comes from (a product, a market, a
    bot); ``escalate tune`` uses it to check that a learned score transfers from one
    domain to another (leave-one-domain-out).

    Examples
    --------
    >>> c = Conversation(id="c1", turns=[Turn(role="user", text="hi")])
    >>> c.channel, len(c.turns)
    ('chat', 1)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    customer_id: str | None = Field(default=None, max_length=200)
    channel: str = Field(default="chat", max_length=50)
    domain: str | None = Field(default=None, min_length=1, max_length=100)
    turns: list[Turn] = Field(min_length=1, max_length=MAX_TURNS)
    label: Label | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _label_turn_in_range(self) -> Conversation:
        if (
            self.label is not None
            and self.label.turn is not None
            and self.label.turn >= len(self.turns)
        ):
            raise ValueError(
                f"label.turn must be an index into turns (0..{len(self.turns) - 1}), "
                f"got {self.label.turn}"
            )
        return self


class ContactRecord(_Model):
    """One earlier contact of a customer, as kept by a history store.

    ``topic`` is what the contact was about (the bot's intent, when it has one);
    ``final_sentiment`` is positive minus negative sentiment of the customer's last
    message, in [-1, 1]; ``text`` is the customer's own words, used to match a later
    contact on the same problem when there is no intent.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> r = ContactRecord(customer_id="u1", conversation_id="c1",
    ...                   started_at=datetime(2026, 5, 1, 10, tzinfo=UTC), outcome="handed_off")
    >>> r.outcome, r.topic
    ('handed_off', None)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str = Field(min_length=1, max_length=200)
    conversation_id: str = Field(min_length=1, max_length=200)
    started_at: datetime
    ended_at: datetime | None = None
    channel: str = Field(default="chat", max_length=50)
    topic: str | None = Field(default=None, max_length=200)
    outcome: Outcome
    final_sentiment: float | None = Field(default=None, ge=-1.0, le=1.0)
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class Signals(_Model):
    """The signals computed at one turn: one flat record of named numbers.

    Names are dotted (``dialogue.consecutive_fallbacks``, ``sentiment.negative``,
    ``human_request``); the catalogue of every name, with its meaning, lives in
    :mod:`escalate.signals.catalog`. A value is ``None`` when it cannot be known at this
    turn (for example ``dialogue.elapsed_seconds`` without timestamps); any comparison
    with a missing value is false.

    Examples
    --------
    >>> s = Signals(values={"dialogue.user_turns": 2.0})
    >>> s["dialogue.user_turns"], s.get("human_request")
    (2.0, None)
    """

    model_config = ConfigDict(frozen=True)

    values: dict[str, float | None] = Field(default_factory=dict)

    def __getitem__(self, name: str) -> float | None:
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.values)

    def get(self, name: str, default: float | None = None) -> float | None:
        return self.values.get(name, default)

    def as_mapping(self) -> Mapping[str, float | None]:
        return self.values


class Reason(_Model):
    """Why a decision was taken: one condition that held, with the value that triggered it.

    ``code`` is the rule id (or guard name); ``signal``/``op``/``threshold``/``value``
    describe the comparison that held, when the reason comes from one.

    Examples
    --------
    >>> str(Reason(code="bot-stuck", signal="dialogue.consecutive_fallbacks", op=">=",
    ...            threshold=2, value=3))
    'bot-stuck: dialogue.consecutive_fallbacks=3 >= 2'
    """

    model_config = ConfigDict(frozen=True)

    code: str
    signal: str | None = None
    op: str | None = None
    threshold: float | None = None
    value: float | None = None
    detail: str | None = None

    def __str__(self) -> str:
        if self.signal is not None:
            return f"{self.code}: {self.signal}={_fmt(self.value)} {self.op} {_fmt(self.threshold)}"
        return f"{self.code}: {self.detail}" if self.detail else self.code


def _fmt(x: float | None) -> str:
    if x is None:
        return "none"
    return str(int(x)) if float(x).is_integer() else f"{x:.3g}"


FactType = Literal[
    "order_id",
    "invoice_id",
    "account_id",
    "email",
    "phone",
    "amount",
    "date",
    "person_name",
    "city",
    "country",
    "address",
    "postcode",
    "account_type",
]


class Fact(_Model):
    """A fact the customer already gave: an order number, an email, an amount, a city...

    ``turn`` indexes the conversation's turns; ``start``/``end`` are the 0-based,
    end-exclusive character offsets of ``text`` in that turn's original message, so
    ``message[start:end] == text`` unless the fact was redacted (``text`` and ``value``
    are then a placeholder such as ``[EMAIL]``). ``value`` is the normalised value
    (``"89.99 GBP"``, ``"2026-05-03"``, ``"4481-2231"``).

    Examples
    --------
    >>> f = Fact(type="order_id", value="4481-2231", text="4481-2231", turn=0,
    ...          start=22, end=31, confidence=0.95)
    >>> f.type, f.redacted
    ('order_id', False)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: FactType
    value: str
    text: str
    turn: int = Field(ge=0)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    confidence: float = Field(ge=0.0, le=1.0)
    redacted: bool = False


class Quote(_Model):
    """A sentence in the customer's own words, with the turn it comes from.

    Examples
    --------
    >>> Quote(turn=2, text="My refund never arrived.").turn
    2
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    turn: int = Field(ge=0)
    text: str


class BotAttempt(_Model):
    """One thing the bot tried: an answer (with its intent) or a fallback.

    Examples
    --------
    >>> BotAttempt(turn=1, intent="refund_policy", text="Refunds take 5 days.").fallback
    False
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    turn: int = Field(ge=0)
    intent: str | None = None
    text: str | None = None
    fallback: bool = False
    repeated: bool = False


class TurnAffect(_Model):
    """How the customer felt at one user turn: the dominant sentiment and top emotions.

    ``sentiment`` is ``None`` when the turn had no scores (no text, no model, or a
    model failure).

    Examples
    --------
    >>> TurnAffect(turn=0, sentiment="negative", negative=0.8,
    ...            emotions={"anger": 0.7}).emotions
    {'anger': 0.7}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    turn: int = Field(ge=0)
    sentiment: Literal["negative", "neutral", "positive"] | None = None
    negative: float | None = Field(default=None, ge=0.0, le=1.0)
    emotions: dict[str, float] = Field(default_factory=dict)


class HandoffPacket(_Model):
    """What a human agent receives at handoff, so the customer never has to repeat themselves.

    Who this is (``customer_id``, ``channel``), what they want (``issue``, quoted from
    their own words in ``issue_quotes``; ``latest_message``), what they already said
    (``facts``, ``transcript``), what the bot already tried (``bot_attempts``), how they
    feel (``affect``, one entry per user turn), earlier contacts (``history``), why the
    policy handed off (``rule``, ``reasons``, ``signals``) and a suggested ``opener``
    for the agent. When the policy redacts personal data, ``redacted`` is true and
    ``redactions`` counts the replaced spans of the transcript by placeholder type.
    Build one with :func:`escalate.packet.build_packet`.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> p = HandoffPacket(conversation_id="c1", created_at=datetime(2026, 5, 4, tzinfo=UTC),
    ...                   rule="asked-for-human", queue="general", priority="high",
    ...                   reasons=[], transcript=[], signals={})
    >>> p.facts, p.opener
    ([], None)
    """

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    conversation_id: str
    customer_id: str | None = None
    channel: str = "chat"
    created_at: datetime
    rule: str | None
    queue: str | None
    priority: Priority | None
    reasons: list[Reason]
    transcript: list[Turn]
    signals: dict[str, float | None]
    issue: str | None = None
    issue_quotes: list[Quote] = Field(default_factory=list)
    latest_message: Quote | None = None
    facts: list[Fact] = Field(default_factory=list)
    bot_attempts: list[BotAttempt] = Field(default_factory=list)
    affect: list[TurnAffect] = Field(default_factory=list)
    history: list[ContactRecord] = Field(default_factory=list)
    opener: str | None = None
    transcript_omitted: int = Field(default=0, ge=0)
    redacted: bool = False
    redactions: dict[str, int] = Field(default_factory=dict)


class Failure(_Model):
    """A component that failed at a turn, and what it could not provide.

    ``message`` says what failed (``"affect model: RuntimeError: ..."``); ``signals``
    are the signals whose values are unknown because of it. ``memory`` is true when the
    conversation's earlier turns are unknown (its saved state could not be read): then
    the guards that remember earlier decisions (cooldown, single handoff) cannot be
    checked either.

    Examples
    --------
    >>> f = Failure(message="history store: TimeoutError: slow",
    ...             signals=frozenset({"history.contacts_7d"}))
    >>> f.memory, sorted(f.signals)
    (False, ['history.contacts_7d'])
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    message: str
    signals: frozenset[str] = frozenset()
    memory: bool = False


class Decision(_Model):
    """What to do after a turn.

    ``action`` is what the bot should do now; ``role`` whose turn it was (a policy decides
    on user turns, and on bot turns when it says so, before the bot's message is sent;
    other turns are answered with ``continue``);
    ``rule`` the id of the rule (or guard) that decided; ``reasons`` the conditions that held with their values. ``guard``
    names a guard that changed the rules' action (cooldown, business hours, already
    handed off, on_error) and ``suppressed`` the action it replaced. ``packet`` is set
    when the action hands off. ``signals`` (the values at this turn), ``failures`` (the
    components that failed at this turn) and ``decided_at`` (the turn's timestamp, else
    the engine's clock when it decided) are diagnostic: left out of equality and dumps.

    Examples
    --------
    >>> d = Decision(conversation_id="c1", turn=0, action="continue")
    >>> d.escalates
    False
    """

    model_config = ConfigDict(frozen=True)

    conversation_id: str
    turn: int = Field(ge=0)
    action: Action
    role: Role = "user"
    rule: str | None = None
    reasons: list[Reason] = Field(default_factory=list)
    queue: str | None = None
    priority: Priority | None = None
    guard: str | None = None
    suppressed: Action | None = None
    packet: HandoffPacket | None = None
    signals: Signals | None = Field(default=None, exclude=True, repr=False)
    failures: tuple[Failure, ...] = Field(default=(), exclude=True, repr=False)
    decided_at: datetime | None = Field(default=None, exclude=True, repr=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self.model_dump(exclude={"packet"}) == other.model_dump(exclude={"packet"})

    __hash__ = None  # type: ignore[assignment]

    @property
    def escalates(self) -> bool:
        """True when the action involves a human (offer, callback or handoff)."""
        return self.action != "continue"

    def summary(self) -> dict[str, Any]:
        """The compact record the CLI prints for each user turn."""
        return {
            "conversation_id": self.conversation_id,
            "turn": self.turn,
            "role": self.role,
            "action": self.action,
            "rule": self.rule,
            "reasons": [r.model_dump(exclude_none=True) for r in self.reasons],
            "queue": self.queue,
            "priority": self.priority,
        }
