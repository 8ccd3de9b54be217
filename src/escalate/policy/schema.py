"""The policy document: pydantic models of the YAML a contact-centre team writes.

Every model forbids unknown keys, so a typo (``cooldown:`` for ``cooldown_turns:``) is
an error, never silently ignored. The loader (:mod:`escalate.policy.loader`) adds the
file name and line to every problem and checks what a model alone cannot: that every
``when`` parses and names known signals, that rule ids are unique and that no rule is
unreachable.

A complete document::

    version: 1
    name: default
    description: General customer service.
    default_queue: general
    dialogue: {}                         # escalate.signals.dialogue.DialogueConfig
    trajectory: {window: 3, threshold: 0.5}
    rules:
      - id: asked-for-human
        when: human_request >= 0.8 or dialogue.asked_for_human
        then: {action: handoff, priority: high}
    guards:
      explicit_request:
        when: dialogue.asked_for_human or human_request >= 0.9
        then: {action: handoff, priority: high}
      cooldown_turns: 2
      single_handoff: true
      business_hours:
        timezone: Europe/London
        open: "08:00-20:00"
        days: [mon, tue, wed, thu, fri]
        holidays: [2026-12-25]
        outside: offer_callback
    on_error: offer_human
    costs:                               # optional, for replay: expected cost per conversation
      bot_per_conversation: 0.10
      human_per_handoff: 4.00
      missed_escalation: 12.00
"""

from __future__ import annotations

import difflib
import functools
import re
import string
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from escalate.models import Action, Priority
from escalate.policy.scores import ScoreSpec
from escalate.signals.dialogue import DialogueConfig
from escalate.signals.trajectory import TrajectoryConfig

__all__ = [
    "DAYS",
    "OPENER_SLOTS",
    "REASON_FAMILIES",
    "REDACT_TYPES",
    "RULE_ID_PATTERN",
    "BusinessHours",
    "Costs",
    "ExplicitRequest",
    "Guards",
    "OpenerTemplate",
    "Outcome",
    "PacketConfig",
    "PolicyDocument",
    "Rule",
    "template_slots",
]

#: What a rule id must look like.
RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
#: Day names, Monday first (matching :meth:`datetime.date.weekday`).
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ErrorAction = Literal["continue", "offer_human", "handoff"]
OutsideAction = Literal["continue", "offer_callback"]

_WEEKDAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri")
_ID_RE = re.compile(RULE_ID_PATTERN)
_HOURS_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_STRICT = ConfigDict(extra="forbid", frozen=True)


def _problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("policy", message)


def _when_text(value: Any) -> Any:
    """YAML reads ``when: true`` as a boolean and ``when: 1`` as a number; keep them as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return value


#: Whose turns a policy decides on.
Role = Literal["user", "bot"]


def _user_turns() -> list[Role]:
    return ["user"]


class Outcome(BaseModel):
    """What a rule does when its condition holds (the ``then:`` of a rule).

    ``action``
        ``continue`` (keep the bot; stops later rules from matching), ``offer_human``
        (ask the customer whether they want a person), ``handoff`` (transfer now) or
        ``offer_callback`` (offer to call the customer back).
    ``queue``
        The agent queue or skill group to route to; falls back to the document's
        ``default_queue``.
    ``priority``
        ``low``, ``normal`` (default), ``high`` or ``urgent``; passed to the agent desk.

    Examples
    --------
    >>> Outcome(action="handoff", priority="high").queue is None
    True
    """

    model_config = _STRICT

    action: Action
    queue: str | None = Field(default=None, min_length=1, max_length=100)
    priority: Priority = "normal"


class Rule(BaseModel):
    """One rule: a condition over signals and what to do when it holds.

    Rules are tried in file order and the first whose ``when`` holds decides.

    ``id``
        Unique; lowercase letters, digits, ``-`` and ``_``. Used as the reason code
        in every decision, so dashboards can count which rule fired.
    ``description``
        Free text for people reading the policy or the decision log.
    ``when``
        The condition (see :mod:`escalate.policy.expressions`).
    ``then``
        An :class:`Outcome`.
    ``enabled``
        ``false`` switches the rule off without deleting it (it is still checked).
    ``on``
        Which turns the rule is evaluated on: ``user`` (the default: each customer
        message), ``bot`` (each bot message, as the backend is about to send it; needs
        ``bot`` in the document's ``decide_on``) or ``any``.

    Examples
    --------
    >>> Rule(id="stuck", when="dialogue.consecutive_fallbacks >= 2",
    ...      then={"action": "offer_human"}).then.priority
    'normal'
    """

    model_config = _STRICT

    id: str = Field(max_length=100)
    description: str | None = None
    when: str = Field(min_length=1)
    then: Outcome
    enabled: bool = True
    on: Literal["user", "bot", "any"] = "user"

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise _problem(
                "expected an id of lowercase letters, digits, '-' and '_' that starts "
                f"with a letter or digit; got {value!r}"
            )
        return value

    @field_validator("when", mode="before")
    @classmethod
    def _when_as_text(cls, value: Any) -> Any:
        return _when_text(value)


class ExplicitRequest(BaseModel):
    """The explicit-request guard: when the customer plainly asks for a person.

    It is checked before the rules and wins over them and over the cooldown, so a
    customer who asks for a human is never told to wait. Its action must involve a
    human (``offer_human``, ``handoff`` or ``offer_callback``).

    Examples
    --------
    >>> ExplicitRequest(when="dialogue.asked_for_human",
    ...                 then={"action": "handoff"}).then.action
    'handoff'
    """

    model_config = _STRICT

    when: str = Field(min_length=1)
    then: Outcome

    @field_validator("when", mode="before")
    @classmethod
    def _when_as_text(cls, value: Any) -> Any:
        return _when_text(value)

    @field_validator("then")
    @classmethod
    def _involves_a_human(cls, value: Outcome) -> Outcome:
        if value.action == "continue":
            raise _problem(
                "expected an action that involves a person (offer_human, handoff or "
                "offer_callback); got 'continue'"
            )
        return value


@functools.cache
def _timezones() -> frozenset[str]:
    try:
        return frozenset(zoneinfo.available_timezones())
    except Exception:  # pragma: no cover - a broken tz database
        return frozenset()


def _parse_clock(hours: str, minutes: str, *, end: bool) -> int | None:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and (m != 0 or not end)):
        return None
    return h * 60 + m


class BusinessHours(BaseModel):
    """When people are at their desks; outside these hours human actions are replaced.

    ``timezone``
        An IANA name such as ``Europe/London``; opening times are local to it, so
        daylight-saving changes are followed.
    ``open``
        ``"HH:MM-HH:MM"``. ``"00:00-24:00"`` is all day. A close earlier than the open
        (``"22:00-06:00"``) is an overnight shift: it belongs to the day it starts on,
        so ``days: [fri]`` with ``"22:00-06:00"`` is open from Friday 22:00 to
        Saturday 06:00.
    ``days``
        The days the desk opens (``mon`` … ``sun``); default Monday to Friday.
    ``holidays``
        Dates (``2026-12-25``) when the desk does not open; an overnight shift that
        starts the evening before still runs to its close.
    ``outside``
        What a human action (``offer_human`` or ``handoff``) becomes when closed:
        ``offer_callback`` (default) or ``continue``.
    ``exempt_priorities``
        Priorities routed to people even when closed (an out-of-hours team), e.g.
        ``[urgent]``. Default: none.

    Examples
    --------
    >>> from datetime import datetime
    >>> bh = BusinessHours(timezone="Europe/London", open="08:00-20:00")
    >>> bh.is_open(datetime(2026, 6, 1, 7, 30))  # Monday 08:30 in London (BST)
    True
    >>> bh.is_open(datetime(2026, 6, 6, 12, 0))  # Saturday
    False
    """

    model_config = _STRICT

    timezone: str
    open: str = "08:00-20:00"
    days: list[Day] = Field(default_factory=lambda: list(_WEEKDAYS))
    holidays: list[date] = Field(default_factory=list)
    outside: OutsideAction = "offer_callback"
    exempt_priorities: list[Priority] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except Exception:
            close = difflib.get_close_matches(value, sorted(_timezones()), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise _problem(
                f"expected an IANA time zone such as 'Europe/London'; got {value!r}{hint}"
            ) from None
        return value

    @field_validator("open")
    @classmethod
    def _check_open(cls, value: str) -> str:
        m = _HOURS_RE.match(value)
        start = _parse_clock(m.group(1), m.group(2), end=False) if m else None
        end = _parse_clock(m.group(3), m.group(4), end=True) if m else None
        if m is None or start is None or end is None:
            raise _problem(
                f"expected opening hours as 'HH:MM-HH:MM' such as '08:00-20:00'; got {value!r}"
            )
        if start == end:
            raise _problem(
                f"expected different open and close times; got {value!r} "
                "(use '00:00-24:00' for all day)"
            )
        return value

    @field_validator("days")
    @classmethod
    def _check_days(cls, value: list[Day]) -> list[Day]:
        if not value:
            raise _problem("expected at least one day; got an empty list")
        return value

    @property
    def minutes(self) -> tuple[int, int]:
        """Opening and closing time as minutes after local midnight."""
        m = _HOURS_RE.match(self.open)
        assert m is not None
        return int(m.group(1)) * 60 + int(m.group(2)), int(m.group(3)) * 60 + int(m.group(4))

    def _opens_on(self, day: date) -> bool:
        return DAYS[day.weekday()] in self.days and day not in self.holidays

    def is_open(self, at: datetime) -> bool:
        """Whether the desk is open at ``at`` (a naive datetime is read as UTC)."""
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        local = at.astimezone(zoneinfo.ZoneInfo(self.timezone))
        day = local.date()
        now = local.hour * 60 + local.minute + local.second / 60
        start, end = self.minutes
        if start < end:
            return self._opens_on(day) and start <= now < end
        # overnight shift: the evening part belongs to today, the morning part to yesterday
        if now >= start:
            return self._opens_on(day)
        return now < end and self._opens_on(day - timedelta(days=1))

    def applies_to(self, priority: Priority | None) -> bool:
        """False when ``priority`` is exempt from business hours."""
        return priority is None or priority not in self.exempt_priorities

    @property
    def opening_time(self) -> time:
        """The local opening time."""
        start, _ = self.minutes
        return time(start // 60, start % 60)


class Guards(BaseModel):
    """Checks applied around the rules.

    ``explicit_request``
        An :class:`ExplicitRequest`: checked first; wins over the rules and the cooldown.
    ``cooldown_turns``
        After an offer or handoff, the same or a weaker action is not repeated for this
        many user turns (default 2; 0 turns the cooldown off). A stronger action (an
        offer becoming a handoff) always goes through.
    ``single_handoff``
        No second handoff in a conversation already handed off (default true).
    ``business_hours``
        A :class:`BusinessHours`; when absent, people are always available.

    Examples
    --------
    >>> Guards().cooldown_turns
    2
    """

    model_config = _STRICT

    explicit_request: ExplicitRequest | None = None
    cooldown_turns: int = Field(default=2, ge=0, le=1000)
    single_handoff: bool = True
    business_hours: BusinessHours | None = None


class Costs(BaseModel):
    """What conversations cost, for replay's expected-cost figures (any one currency).

    ``bot_per_conversation``
        Running the bot on one conversation (every conversation pays it).
    ``human_per_handoff``
        A conversation that reaches a person (any action other than ``continue``).
    ``missed_escalation``
        A conversation that needed a person and never got one (needs labels).

    Examples
    --------
    >>> Costs(human_per_handoff=4.0).missed_escalation
    0.0
    """

    model_config = _STRICT

    bot_per_conversation: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    human_per_handoff: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    missed_escalation: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)


# --------------------------------------------------------------------------------------
# The handoff packet section
# --------------------------------------------------------------------------------------

#: Placeholders an opener template may name, e.g. ``"... about {issue}."``.
OPENER_SLOTS: dict[str, str] = {
    "issue": "what the customer wants, as a short phrase ('your refund of £89.99')",
    "request": "what the customer asked to do, in their words ('change the delivery address')",
    "customer_name": "the customer's name, when they gave it",
    "order_id": "the first order number the customer gave",
    "invoice_id": "the first invoice number the customer gave",
    "account_id": "the first account number the customer gave",
    "amount": "the first amount the customer gave, with its currency",
    "date": "the first date the customer gave",
    "city": "the first city the customer named",
    "country": "the first country the customer named",
    "account_type": "the account type the customer named",
    "contacts": "how many times the customer has contacted us, this contact included",
    "contact_ordinal": "the same as an ordinal word ('third')",
    "fallbacks": "how many times the bot failed to understand",
}
#: Reason families an opener template may name in ``when_reason``.
REASON_FAMILIES: tuple[str, ...] = (
    "asked_for_human",
    "bot_stuck",
    "repeat_contact",
    "distress",
    "frustration",
    "confusion",
    "error",
    "other",
)
#: Kinds of personal data the packet can redact, with the placeholder each becomes.
REDACT_TYPES: dict[str, str] = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "card": "[CARD]",
    "iban": "[IBAN]",
    "postcode": "[POSTCODE]",
    "address": "[ADDRESS]",
    "person_name": "[NAME]",
}
_DEFAULT_REDACT = ["email", "phone", "card", "iban", "postcode", "address"]
_SLOT_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def template_slots(text: str) -> list[str]:
    """The placeholders a template names, in order; raises ``ValueError`` when malformed.

    Examples
    --------
    >>> template_slots("I can see this is the {contact_ordinal} time, about {issue}.")
    ['contact_ordinal', 'issue']
    """
    slots: list[str] = []
    for _, field, spec, conversion in string.Formatter().parse(text):
        if field is None:
            continue
        if not _SLOT_FIELD.match(field) or spec or conversion:
            raise ValueError(
                f"expected placeholders such as {{issue}} (a name, no format); got {{{field}}}"
            )
        slots.append(field)
    return slots


def _emotion_names() -> list[str]:
    from escalate.signals.catalog import CATALOG

    return sorted(
        name.split(".", 1)[1] for name in CATALOG if name.startswith(("emotion.", "mood."))
    )


class OpenerTemplate(BaseModel):
    """A suggested opening line for the agent, and when to use it.

    The first template (the team's, then the built-in ones) whose conditions all hold
    and whose placeholders all have a value is used.

    ``text``
        The line, with placeholders such as ``{issue}`` or ``{contact_ordinal}`` (see
        :data:`OPENER_SLOTS`); an unknown placeholder is a policy problem.
    ``when_rule``
        Rule ids (or ``explicit_request``, ``on_error``): the rule that handed off must
        be one of them.
    ``when_reason``
        Reason families (:data:`REASON_FAMILIES`): one of them must be among the reasons.
    ``when_emotion``
        An emotion (``anger``) or mood (``frustration``, ``distress``): its score on the
        customer's latest scored message must reach ``min_score``.
    ``min_score``
        Default 0.5.
    ``min_contacts``
        The customer must have contacted us at least this many times, this contact
        included (2 means a repeat contact).

    Examples
    --------
    >>> OpenerTemplate(when_reason=["bot_stuck"],
    ...                text="Sorry the assistant couldn't help with {issue}.").min_contacts
    1
    """

    model_config = _STRICT

    text: str = Field(min_length=1, max_length=500)
    when_rule: list[str] = Field(default_factory=list)
    when_reason: list[Literal[
        "asked_for_human", "bot_stuck", "repeat_contact", "distress", "frustration",
        "confusion", "error", "other",
    ]] = Field(default_factory=list)  # fmt: skip
    when_emotion: str | None = None
    min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    min_contacts: int = Field(default=1, ge=1)

    @field_validator("when_rule", "when_reason", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("text")
    @classmethod
    def _known_slots(cls, value: str) -> str:
        try:
            slots = template_slots(value)
        except ValueError as e:
            raise _problem(str(e)) from None
        for slot in slots:
            if slot not in OPENER_SLOTS:
                close = difflib.get_close_matches(slot, list(OPENER_SLOTS), n=1, cutoff=0.6)
                hint = f" (did you mean '{{{close[0]}}}'?)" if close else ""
                known = ", ".join(OPENER_SLOTS)
                raise _problem(
                    f"unknown placeholder '{{{slot}}}' in the template{hint}; "
                    f"expected one of {known}"
                )
        return value

    @field_validator("when_emotion")
    @classmethod
    def _known_emotion(cls, value: str | None) -> str | None:
        if value is None:
            return value
        names = _emotion_names()
        if value not in names:
            close = difflib.get_close_matches(value, names, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise _problem(
                f"expected an emotion or mood such as 'anger' or 'distress'; got {value!r}{hint}"
            )
        return value


class PacketConfig(BaseModel):
    """The ``packet:`` section: what the handoff packet holds and how it reads.

    ``redact``
        Replace personal data in the packet by typed placeholders (``[EMAIL]``);
        default false.
    ``redact_types``
        Which kinds (:data:`REDACT_TYPES`); default every kind but ``person_name``.
    ``openers``
        The team's :class:`OpenerTemplate` list, tried in order before the built-in ones
        (end with a template without conditions to never use a built-in one).
    ``max_transcript_turns``
        Keep only the latest turns in the packet's transcript (default: all).
    ``summary_sentences``
        How many of the customer's sentences sum up the issue (1-5, default 2).
    ``top_emotions``
        How many emotions to list per user turn (0-10, default 3).

    Examples
    --------
    >>> PacketConfig(redact=True).redact_types[:2]
    ['email', 'phone']
    """

    model_config = _STRICT

    redact: bool = False
    redact_types: list[Literal[
        "email", "phone", "card", "iban", "postcode", "address", "person_name",
    ]] = Field(default_factory=lambda: list(_DEFAULT_REDACT))  # type: ignore[arg-type]  # fmt: skip
    openers: list[OpenerTemplate] = Field(default_factory=list)
    max_transcript_turns: int | None = Field(default=None, ge=1)
    summary_sentences: int = Field(default=2, ge=1, le=5)
    top_emotions: int = Field(default=3, ge=0, le=10)


class PolicyDocument(BaseModel):
    """A whole policy file.

    ``version``
        Required; only ``1`` is accepted.
    ``name`` / ``description``
        For people and reports; ``name`` defaults to the file name.
    ``default_queue``
        The queue used by rules that name none.
    ``dialogue``
        How fallbacks, re-prompts and requests for a person are recognised
        (:class:`~escalate.signals.dialogue.DialogueConfig`).
    ``trajectory``
        ``window`` and ``threshold`` of the trajectory signals
        (:class:`~escalate.signals.trajectory.TrajectoryConfig`).
    ``decide_on``
        The turns the policy decides on: ``[user]`` (the default: every customer message)
        or ``[user, bot]`` (also every bot message, before it reaches the customer, so a
        policy can hand over instead of sending a second "sorry, I didn't get that").
        Rules say which turns they apply to with ``on``; the explicit-request guard
        applies to customer messages.
    ``rules``
        At least one :class:`Rule`; first match wins.
    ``guards``
        :class:`Guards`.
    ``x-...``
        Top-level keys starting with ``x-`` are ignored by the loader: a place for
        YAML anchors shared by several rules (``x-handoff: &handoff {action: handoff}``).
    ``packet``
        What the handoff packet holds: redaction, opening-line templates and more
        (:class:`PacketConfig`).
    ``on_error``
        What happens when the affect model or a store fails: ``continue``,
        ``offer_human`` (default: the customer chooses, and an outage does not flood
        the desk with forced transfers) or ``handoff``.
    ``costs``
        Optional :class:`Costs`, read by replay to estimate the cost of a policy.
    ``scores``
        Named logistic scores over signals, read in conditions as ``score.<name>``
        (:class:`~escalate.policy.scores.ScoreSpec`).

    Examples
    --------
    >>> doc = PolicyDocument.model_validate({"version": 1, "rules": [
    ...     {"id": "stuck", "when": "dialogue.fallbacks >= 3", "then": {"action": "handoff"}}]})
    >>> doc.on_error, doc.guards.single_handoff
    ('offer_human', True)
    """

    model_config = _STRICT

    version: Literal[1]
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = None
    default_queue: str | None = Field(default=None, min_length=1, max_length=100)
    dialogue: DialogueConfig = Field(default_factory=DialogueConfig)
    trajectory: TrajectoryConfig = Field(default_factory=TrajectoryConfig)
    decide_on: list[Role] = Field(default_factory=_user_turns, min_length=1)
    rules: list[Rule] = Field(min_length=1)
    guards: Guards = Field(default_factory=Guards)
    on_error: ErrorAction = "offer_human"
    packet: PacketConfig = Field(default_factory=PacketConfig)
    costs: Costs | None = None
    scores: dict[str, ScoreSpec] = Field(default_factory=dict)

    @field_validator("decide_on")
    @classmethod
    def _distinct_roles(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise _problem(f"expected each of user and bot at most once; got {value}")
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> PolicyDocument:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise _problem(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return self
