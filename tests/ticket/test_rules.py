"""The domain rules of ARCHITECTURE.md, as properties (seed plan Properties 5-8 at this layer)."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.data.seed import CUSTOMERS
from servers.ticket.rules import (
    ALREADY_UPGRADED,
    BASE_PRICES,
    HOLD_EXISTS,
    MAX_CALENDAR_DAYS,
    MULTIPLIERS,
    NO_UPGRADE_PATH,
    TICKET_NOT_ACTIVE,
    TICKET_TYPES,
    TIERS,
    TOO_LATE,
    UPGRADE_CUTOFF,
    VISIT_STARTS_AT,
    TicketFacts,
    TicketType,
    Tier,
    apply_multiplier,
    band,
    base_price,
    bookable,
    first_bookable_date,
    last_bookable_date,
    offered,
    price,
    pricing_rules_text,
    tier_refusal,
    visit_start,
)

UTC_ZONE = ZoneInfo("UTC")
zones = st.sampled_from([UTC_ZONE, ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Tokyo")])
ticket_types = st.sampled_from(TICKET_TYPES)
tiers = st.sampled_from(TIERS)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 12, 20), "peak"),  # a Sunday, but peak wins
        (date(2026, 12, 31), "peak"),
        (date(2026, 12, 19), "weekend"),  # Saturday just before the peak
        (date(2027, 7, 1), "peak"),
        (date(2027, 7, 15), "peak"),
        (date(2027, 7, 16), "weekend"),  # Friday after the peak
        (date(2026, 11, 20), "peak"),
        (date(2026, 11, 30), "peak"),
        (date(2026, 11, 19), "standard"),  # Thursday
        (date(2027, 1, 5), "off_peak"),  # Tuesday in January
        (date(2027, 1, 6), "off_peak"),  # Wednesday
        (date(2027, 1, 7), "standard"),  # Thursday
        (date(2027, 4, 6), "standard"),  # Tuesday in April is not off-peak
        (date(2026, 10, 9), "weekend"),  # Friday in October: weekend before off-peak
        (date(2026, 9, 29), "off_peak"),
    ],
)
def test_bands(day: date, expected: str) -> None:
    assert band(day) == expected


def test_upgrade_paths() -> None:
    assert price("general", "double_fun", date(2027, 1, 7)) == 7500
    assert price("vip", "standard", date(2027, 1, 7)) is None
    assert all(price("premium", t, date(2027, 1, 7)) is None for t in TIERS)
    assert price("standard", "non_stop", date(2026, 12, 24)) == 3750
    assert price("general", "standard", date(2027, 1, 5)) == 2250
    assert price("general", "standard", date(2027, 1, 8)) == 3000


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(list(MULTIPLIERS.values())))
def test_multiplier_rounds_half_up_exactly(base: int, multiplier: Decimal) -> None:
    exact = Fraction(base) * Fraction(multiplier)
    result = apply_multiplier(base, multiplier)
    assert isinstance(result, int)
    assert Fraction(result) - exact < Fraction(1, 2) or Fraction(result) - exact == Fraction(1, 2)
    assert exact - Fraction(result) < Fraction(1, 2)


@given(ticket_types, tiers, st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 1, 1)))
def test_price_is_base_times_band_multiplier(
    ticket_type: TicketType, tier: Tier, day: date
) -> None:
    base = BASE_PRICES[ticket_type].get(tier)
    result = price(ticket_type, tier, day)
    if base is None:
        assert result is None
    else:
        assert result == apply_multiplier(base, MULTIPLIERS[band(day)])
        assert result > 0


@given(moments, zones)
def test_first_bookable_date_is_the_first_more_than_24h_ahead(now: datetime, tz: ZoneInfo) -> None:
    first = first_bookable_date(now, tz)
    assert bookable(first, now, tz)
    assert visit_start(first, tz) - now > timedelta(hours=24)
    assert not bookable(first - timedelta(days=1), now, tz)
    assert visit_start(first, tz) - now <= timedelta(hours=48, minutes=60)


@given(moments, zones, st.integers(min_value=-400, max_value=400))
def test_a_visit_is_bookable_exactly_from_the_first_bookable_date(
    now: datetime, tz: ZoneInfo, offset: int
) -> None:
    """What lets the data server check "more than 24 hours ahead" as a date comparison when
    it holds a seat (HoldTerms.ticket_visit_from)."""
    first = first_bookable_date(now, tz)
    day = first + timedelta(days=offset)
    assert bookable(day, now, tz) == (day >= first)


@given(ticket_types, tiers, moments, zones, st.integers(min_value=-5, max_value=120))
def test_every_tier_is_available_or_says_why(
    ticket_type: TicketType, tier: Tier, now: datetime, tz: ZoneInfo, days_ahead: int
) -> None:
    visit = now.astimezone(tz).date() + timedelta(days=days_ahead)
    facts = TicketFacts(ticket_type=ticket_type, status="active", visit_date=visit)
    refusal = tier_refusal(facts, tier, now, tz)
    if base_price(ticket_type, tier) is None:
        expected: str | None = NO_UPGRADE_PATH
    elif not bookable(visit, now, tz):
        expected = TOO_LATE
    else:
        expected = None
    assert (refusal.code if refusal else None) == expected


@pytest.mark.parametrize(
    ("facts", "code"),
    [
        (TicketFacts("general", "used", date(2030, 1, 1)), TICKET_NOT_ACTIVE),
        (TicketFacts("general", "active", date(2030, 1, 1), "confirmed"), ALREADY_UPGRADED),
        (TicketFacts("general", "active", date(2030, 1, 1), "awaiting_payment"), HOLD_EXISTS),
        (TicketFacts("premium", "active", date(2030, 1, 1)), NO_UPGRADE_PATH),
        (TicketFacts("general", "active", date(2026, 11, 26)), TOO_LATE),
    ],
)
def test_refusal_reasons(facts: TicketFacts, code: str) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    refusal = tier_refusal(facts, "double_fun", now, UTC_ZONE)
    assert refusal is not None
    assert refusal.code == code
    assert str(refusal).startswith(f"{code}: ")


def test_the_24_hour_cutoff_is_measured_from_10_00_at_the_venue() -> None:
    la = ZoneInfo("America/Los_Angeles")
    visit = date(2026, 12, 2)  # starts 2026-12-02 10:00 PST = 18:00 UTC
    assert bookable(visit, datetime(2026, 12, 1, 17, 59, tzinfo=UTC), la)
    assert not bookable(visit, datetime(2026, 12, 1, 18, 0, tzinfo=UTC), la)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from([ZoneInfo("UTC"), ZoneInfo("Pacific/Kiritimati"), ZoneInfo("America/Adak")]),
)
def test_the_dates_offered_are_the_calendars_longest_range(now: datetime, tz: ZoneInfo) -> None:
    first, last = first_bookable_date(now, tz), last_bookable_date(now, tz)
    assert (last - first).days + 1 == MAX_CALENDAR_DAYS
    assert offered(first, now, tz)
    assert offered(last, now, tz)
    assert not offered(first - timedelta(days=1), now, tz)
    assert not offered(last + timedelta(days=1), now, tz)
    assert not offered(date.max, now, tz)


def test_the_seed_stays_inside_the_window_whenever_it_is_seeded() -> None:
    """Seeded upgrades are dates the calendar would offer, and no visit lies past them."""
    today = date(2026, 11, 25)
    for now in (
        datetime(2026, 11, 25, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 25, 23, 59, tzinfo=UTC),
    ):
        last = last_bookable_date(now, ZoneInfo("UTC"))
        for _, tickets in CUSTOMERS.values():
            for ticket in tickets:
                visit = today + timedelta(days=ticket.days_ahead)
                assert visit <= last, ticket
                if ticket.upgraded_to is not None:
                    assert offered(visit, now, ZoneInfo("UTC")), ticket


def _text_band(rows: dict[str, str], day: date) -> str:
    """The band of ``day`` as the pricing-rules text describes it: first matching row wins."""
    months = {calendar.month_abbr[m]: m for m in range(1, 13)}
    weekdays = {calendar.day_name[d]: d for d in range(7)}
    for name, dates in rows.items():
        if name == "peak":
            for span in dates.split(", "):
                month, days = span.split(" ")
                first, last = (int(d) for d in days.split("-"))
                if day.month == months[month] and first <= day.day <= last:
                    return name
        elif name == "weekend":
            if day.weekday() in {weekdays[d] for d in dates.split(", ")}:
                return name
        elif name == "off_peak":
            names, in_months = dates.split(" in ")
            if day.month in {months[m] for m in in_months.split(", ")} and day.weekday() in {
                weekdays[d] for d in names.split(" and ")
            }:
                return name
        else:
            assert dates == "every other date"
            return name
    raise AssertionError(f"no row for {day}")


def test_the_pricing_rules_text_says_what_the_rules_do() -> None:
    """The text is written from rules.py; read back, it prices every day of two years (a leap
    one among them) in the band band() gives, with MULTIPLIERS' multiplier."""
    text = pricing_rules_text(hold_minutes=15)
    table = re.findall(r"^\| (\w+) \| ([^|]+) \| x([\d.]+) \|$", text, re.MULTILINE)
    rows = {name: dates for name, dates, _ in table}
    assert list(rows) == list(MULTIPLIERS)
    assert {name: Decimal(m) for name, _, m in table} == MULTIPLIERS
    day = date(2027, 1, 1)
    while day < date(2029, 1, 1):
        assert _text_band(rows, day) == band(day), day
        day += timedelta(days=1)
    assert f"close {UPGRADE_CUTOFF.total_seconds() / 3600:.0f} hours before" in text
    assert f"starts\nat {VISIT_STARTS_AT:%H:%M}" in text
    assert f"for up to {MAX_CALENDAR_DAYS} days" in text


def test_the_pricing_rules_text_gives_the_configured_hold() -> None:
    assert "held for 15 minutes" in pricing_rules_text(hold_minutes=15)
    assert "held for 40 minutes" in pricing_rules_text(hold_minutes=40)
