"""The support team's working hours, and by when a person answers a request made at a moment.

Pure: the moment is always passed in. The answer is the moment at which ``response_hours`` of
working time have passed since the request, counted only inside the working hours of working
days at the venue.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class SupportHours:
    venue_tz: ZoneInfo
    opens: time
    closes: time
    days: frozenset[int]
    """Working weekdays, Monday 0 to Sunday 6."""
    response_hours: int

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(7)):
            raise ValueError("support needs at least one working day (mon..sun)")
        if self.opens >= self.closes:
            raise ValueError("support must open before it closes, on the same day")
        if self.response_hours < 1:
            raise ValueError("the response target is at least one hour")

    def describe(self) -> str:
        """``Monday to Friday, 09:00-17:00 (Europe/Paris time)``."""
        days = sorted(self.days)
        if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
            named = f"{calendar.day_name[days[0]]} to {calendar.day_name[days[-1]]}"
        else:
            named = ", ".join(calendar.day_name[d] for d in days)
        return f"{named}, {self.opens:%H:%M}-{self.closes:%H:%M} ({self.venue_tz.key} time)"

    def window(self, moment: datetime) -> tuple[datetime, datetime] | None:
        """The working hours of the venue's day that ``moment`` falls on, if it is a working
        day, in UTC (arithmetic on one zone's aware datetimes is wall-clock arithmetic, which a
        daylight-saving change would make wrong)."""
        day = moment.astimezone(self.venue_tz).date()
        if day.weekday() not in self.days:
            return None
        return (
            datetime.combine(day, self.opens, tzinfo=self.venue_tz).astimezone(UTC),
            datetime.combine(day, self.closes, tzinfo=self.venue_tz).astimezone(UTC),
        )

    def answer_by(self, requested_at: datetime) -> datetime:
        """When ``response_hours`` of working time after ``requested_at`` have passed (UTC)."""
        remaining = timedelta(hours=self.response_hours)
        moment = requested_at.astimezone(UTC)
        # Each pass consumes one venue day; a week holds at least one working day, so the
        # loop ends within response_hours / (working hours a day) weeks.
        while True:
            window = self.window(moment)
            if window is not None:
                start, end = max(window[0], moment), window[1]
                if start < end:
                    if remaining <= end - start:
                        return start + remaining
                    remaining -= end - start
            local = moment.astimezone(self.venue_tz).date() + timedelta(days=1)
            moment = datetime.combine(local, time(0), tzinfo=self.venue_tz).astimezone(UTC)


def parse_days(names: list[str]) -> frozenset[int]:
    """``["mon", "fri"]`` as weekday numbers; an unknown name is a ValueError."""
    days = set()
    for name in names:
        key = name.strip().lower()[:3]
        if key not in WEEKDAYS:
            raise ValueError(f"unknown weekday {name!r} (use mon, tue, ... sun)")
        days.add(WEEKDAYS.index(key))
    return frozenset(days)
