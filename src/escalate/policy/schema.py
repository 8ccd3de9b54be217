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
"""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from escalate.models import Action, Priority
from escalate.signals.dialogue import DialogueConfig
from escalate.signals.trajectory import TrajectoryConfig

__all__ = [
    "DAYS",
    "RULE_ID_PATTERN",
    "BusinessHours",
    "ExplicitRequest",
    "Guards",
    "Outcome",
    "PolicyDocument",
    "Rule",
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
    ``rules``
        At least one :class:`Rule`; first match wins.
    ``guards``
        :class:`Guards`.
    ``x-...``
        Top-level keys starting with ``x-`` are ignored by the loader: a place for
        YAML anchors shared by several rules (``x-handoff: &handoff {action: handoff}``).
    ``on_error``
        What happens when the affect model or a store fails: ``continue``,
        ``offer_human`` (default: the customer chooses, and an outage does not flood
        the desk with forced transfers) or ``handoff``.

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
    rules: list[Rule] = Field(min_length=1)
    guards: Guards = Field(default_factory=Guards)
    on_error: ErrorAction = "offer_human"

    @model_validator(mode="after")
    def _unique_ids(self) -> PolicyDocument:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise _problem(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return self
