"""The policy document models, and business hours across time zones, days and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from escalate.policy.schema import (
    BusinessHours,
    ExplicitRequest,
    Guards,
    Outcome,
    PolicyDocument,
    Rule,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def london(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


WEEKDAYS = BusinessHours(timezone="Europe/London", open="08:00-20:00")


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (london(2026, 6, 1, 8, 0), True),  # Monday, opening minute
        (london(2026, 6, 1, 7, 59), False),
        (london(2026, 6, 1, 19, 59), True),
        (london(2026, 6, 1, 20, 0), False),  # close is exclusive
        (london(2026, 6, 5, 12, 0), True),  # Friday
        (london(2026, 6, 6, 12, 0), False),  # Saturday
        (london(2026, 6, 7, 12, 0), False),  # Sunday
    ],
)
def test_weekday_hours(at: datetime, expected: bool) -> None:
    assert WEEKDAYS.is_open(at) is expected


def test_naive_datetimes_are_utc() -> None:
    # London is UTC+1 in June: 07:30 UTC is 08:30 local
    assert WEEKDAYS.is_open(datetime(2026, 6, 1, 7, 30))
    assert not WEEKDAYS.is_open(datetime(2026, 6, 1, 6, 30))
    # and UTC+0 in January: 07:30 UTC is 07:30 local
    assert not WEEKDAYS.is_open(datetime(2026, 1, 5, 7, 30))
    assert WEEKDAYS.is_open(datetime(2026, 1, 5, 8, 30))


def test_other_time_zones_are_converted() -> None:
    # 09:00 in New York on a Monday in June is 14:00 in London
    assert WEEKDAYS.is_open(datetime(2026, 6, 1, 9, 0, tzinfo=NEW_YORK))
    # 18:00 in New York is 23:00 in London: closed
    assert not WEEKDAYS.is_open(datetime(2026, 6, 1, 18, 0, tzinfo=NEW_YORK))
    # a fixed offset works too
    assert WEEKDAYS.is_open(datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=5))))


def test_local_day_decides_not_utc_day() -> None:
    tokyo = BusinessHours(timezone="Asia/Tokyo", open="08:00-20:00", days=["mon"])
    # Sunday 23:30 UTC is Monday 08:30 in Tokyo
    assert tokyo.is_open(datetime(2026, 6, 7, 23, 30, tzinfo=UTC))
    # Monday 12:00 UTC is Monday 21:00 in Tokyo: closed
    assert not tokyo.is_open(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))


def test_daylight_saving_is_followed() -> None:
    bh = BusinessHours(timezone="Europe/London", open="09:00-17:00", days=["sun", "mon"])
    # clocks go forward on Sunday 29 March 2026: 08:30 UTC is 09:30 BST
    assert bh.is_open(datetime(2026, 3, 29, 8, 30))
    assert not bh.is_open(datetime(2026, 3, 22, 8, 30))  # a week before: 08:30 GMT


def test_holidays_close_the_desk() -> None:
    bh = BusinessHours(timezone="Europe/London", open="08:00-20:00", holidays=[date(2026, 12, 25)])
    assert not bh.is_open(london(2026, 12, 25, 12, 0))  # Friday, Christmas
    assert bh.is_open(london(2026, 12, 24, 12, 0))


def test_overnight_hours() -> None:
    bh = BusinessHours(
        timezone="Europe/London", open="22:00-06:00", days=["fri"], holidays=[date(2026, 6, 12)]
    )
    assert bh.is_open(london(2026, 6, 5, 22, 0))  # Friday night
    assert bh.is_open(london(2026, 6, 6, 5, 59))  # Saturday early morning: Friday's shift
    assert not bh.is_open(london(2026, 6, 6, 6, 0))
    assert not bh.is_open(london(2026, 6, 6, 22, 30))  # Saturday night: no shift starts
    assert not bh.is_open(london(2026, 6, 5, 5, 0))  # Friday early morning: Thursday's shift
    assert not bh.is_open(london(2026, 6, 5, 12, 0))
    assert not bh.is_open(london(2026, 6, 12, 23, 0))  # holiday: the shift does not start
    assert not bh.is_open(london(2026, 6, 13, 1, 0))


def test_overnight_shift_runs_into_a_holiday() -> None:
    bh = BusinessHours(
        timezone="UTC", open="22:00-06:00", days=["thu"], holidays=[date(2026, 6, 5)]
    )
    assert bh.is_open(datetime(2026, 6, 5, 3, 0))  # Thursday's shift, into Friday's holiday


def test_all_day() -> None:
    bh = BusinessHours(timezone="UTC", open="00:00-24:00", days=["sat"])
    assert bh.is_open(datetime(2026, 6, 6, 0, 0))
    assert bh.is_open(datetime(2026, 6, 6, 23, 59, 59))
    assert not bh.is_open(datetime(2026, 6, 7, 0, 0))


@pytest.mark.parametrize(
    "hours", ["9-5", "08:00", "08:00-08:00", "25:00-26:00", "08:60-20:00", "24:00-08:00", "x"]
)
def test_bad_opening_hours(hours: str) -> None:
    with pytest.raises(ValidationError):
        BusinessHours(timezone="UTC", open=hours)


def test_opening_hours_with_spaces_and_one_digit_hour() -> None:
    bh = BusinessHours(timezone="UTC", open="8:30 - 17:00")
    assert bh.minutes == (510, 1020)
    assert bh.opening_time.hour == 8


def test_bad_timezone_suggests_a_name() -> None:
    with pytest.raises(ValidationError) as info:
        BusinessHours(timezone="Europe/Londn")
    assert "did you mean 'Europe/London'?" in str(info.value)
    for bad in ["", "../etc/passwd", "Not/AZone", "\x00"]:
        with pytest.raises(ValidationError):
            BusinessHours(timezone=bad)


def test_empty_days_rejected() -> None:
    with pytest.raises(ValidationError, match="at least one day"):
        BusinessHours(timezone="UTC", days=[])


def test_exempt_priorities() -> None:
    bh = BusinessHours(timezone="UTC", exempt_priorities=["urgent"])
    assert not bh.applies_to("urgent")
    assert bh.applies_to("high")
    assert bh.applies_to(None)
    assert bh.outside == "offer_callback"


def test_outcome_defaults_and_limits() -> None:
    assert Outcome(action="handoff").priority == "normal"
    with pytest.raises(ValidationError):
        Outcome(action="transfer")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Outcome(action="handoff", colour="red")  # type: ignore[call-arg]


def test_rule_id_pattern() -> None:
    Rule(id="a-1_b", when="true", then=Outcome(action="continue"))
    for bad in ["", "-a", "A", "a b", "a.b"]:
        with pytest.raises(ValidationError):
            Rule(id=bad, when="true", then=Outcome(action="continue"))


def test_explicit_request_needs_a_person() -> None:
    with pytest.raises(ValidationError, match="involves a person"):
        ExplicitRequest(when="dialogue.asked_for_human", then=Outcome(action="continue"))


def test_guards_defaults() -> None:
    g = Guards()
    assert (g.cooldown_turns, g.single_handoff, g.business_hours, g.explicit_request) == (
        2,
        True,
        None,
        None,
    )


def test_document_defaults_and_duplicate_ids() -> None:
    rule = {"id": "a", "when": "true", "then": {"action": "handoff"}}
    doc = PolicyDocument.model_validate({"version": 1, "rules": [rule]})
    assert doc.on_error == "offer_human"
    assert doc.trajectory.window == 3
    with pytest.raises(ValidationError, match="duplicate rule id"):
        PolicyDocument.model_validate({"version": 1, "rules": [rule, rule]})
    with pytest.raises(ValidationError):
        PolicyDocument.model_validate({"version": 2, "rules": [rule]})


def test_models_are_frozen() -> None:
    g = Guards()
    with pytest.raises(ValidationError):
        g.cooldown_turns = 5
