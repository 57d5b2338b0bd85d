"""When a person answers: the response target counted in working hours only."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.ticket.help.hours import SupportHours, parse_days

WEEKDAYS = SupportHours(
    venue_tz=ZoneInfo("UTC"),
    opens=time(9),
    closes=time(17),
    days=frozenset(range(5)),
    response_hours=4,
)


@pytest.mark.parametrize(
    ("asked", "answered"),
    [
        # Monday morning, inside working hours: four hours later.
        (datetime(2026, 12, 7, 10, 0, tzinfo=UTC), datetime(2026, 12, 7, 14, 0, tzinfo=UTC)),
        # Before opening: from 09:00.
        (datetime(2026, 12, 7, 6, 0, tzinfo=UTC), datetime(2026, 12, 7, 13, 0, tzinfo=UTC)),
        # Friday 16:00: one hour on Friday, three on Monday.
        (datetime(2026, 12, 4, 16, 0, tzinfo=UTC), datetime(2026, 12, 7, 12, 0, tzinfo=UTC)),
        # Saturday: Monday's first four hours.
        (datetime(2026, 12, 5, 12, 0, tzinfo=UTC), datetime(2026, 12, 7, 13, 0, tzinfo=UTC)),
        # Exactly at closing: the next working day.
        (datetime(2026, 12, 8, 17, 0, tzinfo=UTC), datetime(2026, 12, 9, 13, 0, tzinfo=UTC)),
    ],
)
def test_answer_by_examples(asked: datetime, answered: datetime) -> None:
    assert WEEKDAYS.answer_by(asked) == answered


def test_a_daylight_saving_change_is_counted_in_real_hours() -> None:
    # Paris moves its clocks back at 03:00 on Sunday 25 October 2026; support works round the
    # clock on Sundays here, so the night of the change counts 25 real hours of working time.
    paris = SupportHours(
        venue_tz=ZoneInfo("Europe/Paris"),
        opens=time(0),
        closes=time(23, 59),
        days=frozenset({6}),
        response_hours=3,
    )
    asked = datetime(2026, 10, 25, 0, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert paris.answer_by(asked) - asked.astimezone(UTC) == timedelta(hours=3)


def test_describe_names_days_hours_and_zone() -> None:
    assert WEEKDAYS.describe() == "Monday to Friday, 09:00-17:00 (UTC time)"
    odd = SupportHours(ZoneInfo("UTC"), time(9), time(12), frozenset({0, 3}), 1)
    assert odd.describe() == "Monday, Thursday, 09:00-12:00 (UTC time)"


@pytest.mark.parametrize(
    ("days", "opens", "closes", "hours"),
    [
        (frozenset(), time(9), time(17), 4),
        (frozenset({0}), time(17), time(9), 4),
        (frozenset({0}), time(9), time(17), 0),
    ],
)
def test_hours_that_cannot_be_worked_are_refused(
    days: frozenset[int], opens: time, closes: time, hours: int
) -> None:
    with pytest.raises(ValueError, match=r"support|response"):
        SupportHours(ZoneInfo("UTC"), opens, closes, days, hours)


def test_parse_days() -> None:
    assert parse_days(["mon", "Tuesday", " sun "]) == frozenset({0, 1, 6})
    with pytest.raises(ValueError, match="unknown weekday"):
        parse_days(["funday"])


def _working_time(hours: SupportHours, start: datetime, end: datetime) -> timedelta:
    """The test's own oracle: working time between two moments, summed day by day."""
    total = timedelta()
    day = start.astimezone(hours.venue_tz).date() - timedelta(days=1)
    while datetime.combine(day, time(0), tzinfo=hours.venue_tz) <= end:
        if day.weekday() in hours.days:
            opens = datetime.combine(day, hours.opens, tzinfo=hours.venue_tz).astimezone(UTC)
            closes = datetime.combine(day, hours.closes, tzinfo=hours.venue_tz).astimezone(UTC)
            overlap = min(closes, end) - max(opens, start)
            total += max(overlap, timedelta())
        day += timedelta(days=1)
    return total


support_hours = st.builds(
    SupportHours,
    venue_tz=st.sampled_from([ZoneInfo("UTC"), ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Tokyo")]),
    opens=st.sampled_from([time(0), time(8), time(9, 30)]),
    closes=st.sampled_from([time(12), time(17), time(23, 59)]),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    response_hours=st.integers(1, 72),
)
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(support_hours, moments)
def test_property_the_answer_comes_after_exactly_the_target_in_working_time(
    hours: SupportHours, asked: datetime
) -> None:
    answered = hours.answer_by(asked)
    assert answered > asked
    assert answered.tzinfo == UTC
    assert _working_time(hours, asked, answered) == timedelta(hours=hours.response_hours)
    # ... and at a moment someone is at work: inside a working day's hours.
    window = hours.window(answered - timedelta(microseconds=1))
    assert window is not None
    assert window[0] < answered <= window[1]
