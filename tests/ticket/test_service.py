"""The ticket service against the real data server (in memory) on real PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from servers.core.errors import DomainError
from servers.data.service import DataService
from servers.ticket import rules
from servers.ticket.service import Caller, TicketService

from .support import JANE, JOHN, NOW, OPS, TODAY


async def refused(code: str, call: object) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code == code, caught.value
    return caught.value


async def test_customers_see_their_own_tickets(tickets: TicketService) -> None:
    mine = await tickets.list_my_tickets(JOHN)
    assert [t.ticket_number for t in mine.tickets] == [
        "TKT-JD0001",
        "TKT-JD0004",
        "TKT-JD0002",
        "TKT-JD0003",
    ]
    assert (await tickets.get_ticket(JOHN, "TKT-JD0001")).ticket_type == "general"


async def test_another_customers_ticket_answers_like_a_missing_one(
    tickets: TicketService,
) -> None:
    theirs = await refused("TICKET_NOT_FOUND", tickets.get_ticket(JANE, "TKT-JD0001"))
    missing = await refused("TICKET_NOT_FOUND", tickets.get_ticket(JANE, "TKT-JD9999"))
    assert theirs.message.replace("JD0001", "X") == missing.message.replace("JD9999", "X")
    for call in (
        tickets.check_upgrade_eligibility(JANE, "TKT-JD0001"),
        tickets.get_upgrade_options(JANE, "TKT-JD0001"),
        tickets.get_availability_calendar(JANE, "TKT-JD0001", "standard"),
        tickets.quote_upgrade(JANE, "TKT-JD0001", "standard", TODAY + timedelta(days=5)),
    ):
        await refused("TICKET_NOT_FOUND", call)


async def test_only_operators_act_for_another_customer(tickets: TicketService) -> None:
    await refused("NOT_ALLOWED", tickets.list_my_tickets(JANE, JOHN.customer_id))
    assert JOHN.customer_id is not None
    for_john = await tickets.list_my_tickets(OPS, JOHN.customer_id)
    assert len(for_john.tickets) == 4
    await refused("INVALID_ARGUMENT", tickets.list_my_tickets(OPS))


@pytest.mark.parametrize(
    ("caller", "ticket", "expected"),
    [
        (JOHN, "TKT-JD0001", [None, None, None]),
        (JOHN, "TKT-JD0002", ["NO_UPGRADE_PATH", None, None]),
        (JOHN, "TKT-JD0003", ["NO_UPGRADE_PATH", "NO_UPGRADE_PATH", None]),
        (JOHN, "TKT-JD0004", ["NO_UPGRADE_PATH"] * 3),
        (JANE, "TKT-JS0001", ["TOO_LATE"] * 3),
        (JANE, "TKT-JS0002", ["NO_UPGRADE_PATH", "TICKET_NOT_ACTIVE", "TICKET_NOT_ACTIVE"]),
        (JANE, "TKT-JS0003", ["ALREADY_UPGRADED"] * 3),
    ],
)
async def test_eligibility_gives_a_reason_per_tier(
    tickets: TicketService, caller: Caller, ticket: str, expected: list[str | None]
) -> None:
    answer = await tickets.check_upgrade_eligibility(caller, ticket)
    assert [r.tier for r in answer.reasons] == list(rules.TIERS)
    assert [r.reason.split(":")[0] if r.reason else None for r in answer.reasons] == expected
    assert answer.eligible == (None in expected)


async def test_options_are_always_three_in_order_with_from_prices(tickets: TicketService) -> None:
    options = await tickets.get_upgrade_options(JOHN, "TKT-JD0001")
    assert [o.tier for o in options.tiers] == ["standard", "non_stop", "double_fun"]
    assert [o.name for o in options.tiers] == ["Standard", "Non-stop", "Double Fun"]
    # The 60 bookable days from 26 November reach January's off-peak Tuesdays (x0.9).
    assert [o.from_price_cents for o in options.tiers] == [2250, 4500, 6750]
    premium = await tickets.get_upgrade_options(JOHN, "TKT-JD0004")
    assert [o.available for o in premium.tiers] == [False, False, False]
    assert all(o.from_price_cents is None for o in premium.tiers)


async def test_calendar_prices_every_bookable_date_and_marks_sold_out_days(
    tickets: TicketService, data: DataService
) -> None:
    full_day = TODAY + timedelta(days=9)
    await data.set_capacity(full_day, "double_fun", 0)
    calendar = await tickets.get_availability_calendar(JOHN, "TKT-JD0001", "double_fun")
    first = rules.first_bookable_date(NOW, ZoneInfo("UTC"))
    assert calendar.days[0].date == first
    assert len(calendar.days) == rules.DEFAULT_CALENDAR_DAYS
    for day in calendar.days:
        assert day.price_cents == rules.price("general", "double_fun", day.date)
        assert day.band == rules.band(day.date)
        assert rules.bookable(day.date, NOW, ZoneInfo("UTC"))
    by_date = {d.date: d for d in calendar.days}
    assert by_date[full_day].available is False
    assert (by_date[full_day].reason or "").startswith("SOLD_OUT:")
    assert by_date[full_day + timedelta(days=1)].seats_left == 50


async def test_calendar_ranges(tickets: TicketService) -> None:
    start = date(2027, 1, 1)
    short = await tickets.get_availability_calendar(
        JOHN, "TKT-JD0001", "standard", start, start + timedelta(days=6)
    )
    assert [d.date for d in short.days] == [start + timedelta(days=i) for i in range(7)]
    await refused(
        "INVALID_ARGUMENT",
        tickets.get_availability_calendar(
            JOHN, "TKT-JD0001", "standard", start, start + timedelta(days=92)
        ),
    )
    await refused(
        "NO_UPGRADE_PATH", tickets.get_availability_calendar(JOHN, "TKT-JD0004", "standard")
    )


async def test_quote_matches_the_rules_and_refuses_dates_inside_24_hours(
    tickets: TicketService,
) -> None:
    christmas = date(2026, 12, 24)
    quote = await tickets.quote_upgrade(JOHN, "TKT-JD0002", "double_fun", christmas)
    assert (quote.base_cents, quote.band, quote.multiplier, quote.total_cents) == (
        5000,
        "peak",
        "1.5",
        7500,
    )
    assert quote.hold_minutes == 15
    await refused("DATE_NOT_BOOKABLE", tickets.quote_upgrade(JOHN, "TKT-JD0001", "standard", TODAY))
    await refused(
        "NO_UPGRADE_PATH", tickets.quote_upgrade(JOHN, "TKT-JD0003", "standard", christmas)
    )
