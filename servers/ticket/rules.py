"""The upgrade rules of ARCHITECTURE.md ("Domain rules"), computed in one place.

Pure functions over plain values: no I/O, no clock of their own (``now`` is always passed in),
so that every rule is unit- and property-tested on its own.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Final, Literal
from zoneinfo import ZoneInfo

TicketType = Literal["general", "standard", "vip", "premium"]
Tier = Literal["standard", "non_stop", "double_fun"]
Band = Literal["peak", "weekend", "off_peak", "standard"]

TIERS: Final[tuple[Tier, ...]] = ("standard", "non_stop", "double_fun")
TICKET_TYPES: Final[tuple[TicketType, ...]] = ("general", "standard", "vip", "premium")
CURRENCY: Final = "USD"

VISIT_STARTS_AT: Final = time(10, 0)
UPGRADE_CUTOFF: Final = timedelta(hours=24)
DEFAULT_CALENDAR_DAYS: Final = 60
MAX_CALENDAR_DAYS: Final = 92


@dataclass(frozen=True)
class TierInfo:
    tier: Tier
    name: str
    description: str
    includes: tuple[str, ...]


CATALOGUE: Final[dict[Tier, TierInfo]] = {
    "standard": TierInfo(
        "standard",
        "Standard",
        "Everything a general ticket has, plus the standard rides and shows.",
        ("All standard rides", "Daytime shows", "Park map and app"),
    ),
    "non_stop": TierInfo(
        "non_stop",
        "Non-stop",
        "Skip the regular queues and ride as often as you like.",
        ("All standard rides", "Fast-lane access", "Unlimited re-rides", "Evening shows"),
    ),
    "double_fun": TierInfo(
        "double_fun",
        "Double Fun",
        "The whole park, twice the fun: every ride, every show, and the extras.",
        (
            "All rides including premium",
            "Fast-lane access",
            "Reserved show seating",
            "Meal voucher",
        ),
    ),
}

# Upgrade price in USD cents by ticket type and tier; a missing pair has no upgrade path.
BASE_PRICES: Final[dict[TicketType, dict[Tier, int]]] = {
    "general": {"standard": 2500, "non_stop": 5000, "double_fun": 7500},
    "standard": {"non_stop": 2500, "double_fun": 5000},
    "vip": {"double_fun": 2500},
    "premium": {},
}

MULTIPLIERS: Final[dict[Band, Decimal]] = {
    "peak": Decimal("1.5"),
    "weekend": Decimal("1.2"),
    "off_peak": Decimal("0.9"),
    "standard": Decimal("1.0"),
}

_PEAK_RANGES: Final = (((12, 20), (12, 31)), ((7, 1), (7, 15)), ((11, 20), (11, 30)))
_OFF_PEAK_MONTHS: Final = frozenset({1, 2, 3, 9, 10})
_OFF_PEAK_WEEKDAYS: Final = (calendar.TUESDAY, calendar.WEDNESDAY)
_WEEKEND_WEEKDAYS: Final = (calendar.FRIDAY, calendar.SATURDAY, calendar.SUNDAY)


def base_price(ticket_type: TicketType, tier: Tier) -> int | None:
    """The upgrade's base price in cents, or None when there is no upgrade path."""
    return BASE_PRICES[ticket_type].get(tier)


def band(day: date) -> Band:
    """The price band of a date; the first matching rule wins."""
    return _band(day)


# The rules are constants, and a call prices many dates: a calendar every date it shows, the
# upgrade options the 60 days of the default window for each tier (180 prices). So prices and
# bands are remembered, for more dates than any calendar covers (3.1 µs -> 0.3 µs a price).
@lru_cache(maxsize=1024)
def _band(day: date) -> Band:
    if any(start <= (day.month, day.day) <= end for start, end in _PEAK_RANGES):
        return "peak"
    if day.weekday() in _WEEKEND_WEEKDAYS:
        return "weekend"
    if day.month in _OFF_PEAK_MONTHS and day.weekday() in _OFF_PEAK_WEEKDAYS:
        return "off_peak"
    return "standard"


def apply_multiplier(base_cents: int, multiplier: Decimal) -> int:
    """``base * multiplier`` rounded half-up to the cent, in exact decimal arithmetic."""
    return int((Decimal(base_cents) * multiplier).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def price(ticket_type: TicketType, tier: Tier, day: date) -> int | None:
    """The upgrade's price in cents on ``day``, or None when there is no upgrade path."""
    return _price(ticket_type, tier, day)


@lru_cache(maxsize=len(TICKET_TYPES) * len(TIERS) * 1024)
def _price(ticket_type: TicketType, tier: Tier, day: date) -> int | None:
    base = base_price(ticket_type, tier)
    return None if base is None else apply_multiplier(base, MULTIPLIERS[band(day)])


def _months(months: frozenset[int]) -> str:
    return ", ".join(calendar.month_abbr[m] for m in sorted(months))


def _weekdays(days: tuple[int, ...], joint: str) -> str:
    return joint.join(calendar.day_name[d] for d in days)


def pricing_rules_text(hold_minutes: int) -> str:
    """The pricing rules in words (the ``tickets://pricing-rules`` resource), written from the
    values above so that the text cannot say anything the rules do not do."""
    peak = ", ".join(
        f"{calendar.month_abbr[start[0]]} {start[1]}-{end[1]}"
        if start[0] == end[0]
        else f"{calendar.month_abbr[start[0]]} {start[1]}-{calendar.month_abbr[end[0]]} {end[1]}"
        for start, end in _PEAK_RANGES
    )
    rows = {
        "peak": peak,
        "weekend": _weekdays(_WEEKEND_WEEKDAYS, ", "),
        "off_peak": f"{_weekdays(_OFF_PEAK_WEEKDAYS, ' and ')} in {_months(_OFF_PEAK_MONTHS)}",
        "standard": "every other date",
    }
    table = "\n".join(f"| {b} | {rows[b]} | x{MULTIPLIERS[b]} |" for b in MULTIPLIERS)
    cutoff_hours = int(UPGRADE_CUTOFF.total_seconds() // 3600)
    return f"""# Upgrade pricing

Price = base price of the tier for the ticket type x the date's multiplier, rounded half-up to
the cent. The first matching band wins:

| band | dates | multiplier |
|---|---|---|
{table}

Upgrades (and cancellations of them) close {cutoff_hours} hours before the visit, which starts
at {VISIT_STARTS_AT:%H:%M} on its date at the venue. An upgrade can be booked for the dates from
the first one more than {cutoff_hours} hours ahead, for up to {MAX_CALENDAR_DAYS} days. A
selected date is held for {hold_minutes} minutes while the customer pays.
"""


def visit_start(day: date, venue_tz: ZoneInfo) -> datetime:
    """The moment a visit on ``day`` starts (10:00 at the venue), as an aware datetime."""
    return datetime.combine(day, VISIT_STARTS_AT, tzinfo=venue_tz)


def bookable(day: date, now: datetime, venue_tz: ZoneInfo) -> bool:
    """Whether a visit on ``day`` is more than 24 hours after ``now``."""
    return visit_start(day, venue_tz) - now > UPGRADE_CUTOFF


def first_bookable_date(now: datetime, venue_tz: ZoneInfo) -> date:
    """The earliest date whose visit starts more than 24 hours after ``now``."""
    day = now.astimezone(venue_tz).date()
    while not bookable(day, now, venue_tz):
        day += timedelta(days=1)
    return day


def last_bookable_date(now: datetime, venue_tz: ZoneInfo) -> date:
    """The last date the calendar offers: the end of its longest range (MAX_CALENDAR_DAYS
    dates) from the first bookable date."""
    return first_bookable_date(now, venue_tz) + timedelta(days=MAX_CALENDAR_DAYS - 1)


def offered(day: date, now: datetime, venue_tz: ZoneInfo) -> bool:
    """Whether the calendar offers ``day`` at ``now``: the only dates an upgrade may be
    selected for (ARCHITECTURE: "accepts only a date the calendar would offer")."""
    return bookable(day, now, venue_tz) and day <= last_bookable_date(now, venue_tz)


# Eligibility ----------------------------------------------------------------------------------

OrderState = Literal["awaiting_payment", "confirmed"]

TICKET_NOT_ACTIVE: Final = "TICKET_NOT_ACTIVE"
NO_UPGRADE_PATH: Final = "NO_UPGRADE_PATH"
TOO_LATE: Final = "TOO_LATE"
HOLD_EXISTS: Final = "HOLD_EXISTS"
ALREADY_UPGRADED: Final = "ALREADY_UPGRADED"


@dataclass(frozen=True)
class TicketFacts:
    """What the rules need to know of a ticket."""

    ticket_type: TicketType
    status: str
    visit_date: date
    open_order: OrderState | None = None
    """The state of the ticket's live hold or confirmed upgrade, if any."""


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def ticket_refusal(ticket: TicketFacts, now: datetime, venue_tz: ZoneInfo) -> Refusal | None:
    """Why no upgrade of this ticket can start now, whatever the tier; None when one can."""
    if ticket.status != "active":
        return Refusal(TICKET_NOT_ACTIVE, f"the ticket is {ticket.status}, not active")
    if not bookable(ticket.visit_date, now, venue_tz):
        start = visit_start(ticket.visit_date, venue_tz)
        return Refusal(
            TOO_LATE,
            "upgrades close 24 hours before the visit "
            f"(visit {start.strftime('%Y-%m-%d %H:%M %Z')})",
        )
    if ticket.open_order == "confirmed":
        return Refusal(ALREADY_UPGRADED, "the ticket has already been upgraded")
    if ticket.open_order == "awaiting_payment":
        return Refusal(HOLD_EXISTS, "an upgrade of this ticket is already awaiting payment")
    return None


def tier_refusal(
    ticket: TicketFacts, tier: Tier, now: datetime, venue_tz: ZoneInfo
) -> Refusal | None:
    """Why this ticket cannot be upgraded to ``tier`` now; None when it can."""
    return path_refusal(ticket.ticket_type, tier) or ticket_refusal(ticket, now, venue_tz)


def path_refusal(ticket_type: TicketType, tier: Tier) -> Refusal | None:
    """Why no ticket of this type can be upgraded to ``tier`` at all; None when one can."""
    if base_price(ticket_type, tier) is None:
        return Refusal(
            NO_UPGRADE_PATH, f"a {ticket_type} ticket has no upgrade to {CATALOGUE[tier].name}"
        )
    return None
