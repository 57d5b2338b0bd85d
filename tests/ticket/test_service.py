"""The ticket service against the real data server (in memory) on real PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from itertools import product
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from fastmcp import Client, FastMCP

from servers.core.client import ServiceClient
from servers.core.errors import DomainError
from servers.data.seed import CUSTOMERS, seed_id
from servers.data.server import build_server as build_data_server
from servers.data.service import DataService
from servers.notify.server import build_server as build_notify_server
from servers.payment.server import build_server as build_payment_server
from servers.payment.service import TRUSTED
from servers.ticket import rules
from servers.ticket.gateways import (
    DataGateway,
    NotifyGateway,
    PaymentGateway,
    RemoteOrder,
    TicketRefused,
)
from servers.ticket.journey import Journey
from servers.ticket.models import Quote, UpgradeOrder
from servers.ticket.rules import Tier
from servers.ticket.service import Caller, TicketService

from .conftest import Servers
from .support import JANE, JOHN, NOW, OPS, TICKET_SERVER, TODAY

Found = TypeVar("Found")


async def outcome(call: Awaitable[Found]) -> Found | DomainError:
    """What ``call`` answers, or its refusal."""
    try:
        return await call
    except DomainError as exc:
        return exc


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


class RecordingClient(ServiceClient):
    """A service client that notes the name of every tool it calls, in one shared log."""

    def __init__(self, name: str, server: FastMCP, log: list[str]):
        super().__init__(Client(server), caller=TICKET_SERVER)
        self.name = name
        self.log = log

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        self.log.append(f"{self.name}.{tool}")
        return await super().call(tool, arguments)


@pytest.fixture
async def recorded(servers: Servers) -> AsyncIterator[tuple[Journey, list[str]]]:
    """A journey over the ``servers`` whose every call to another server is logged."""
    log: list[str] = []
    async with (
        RecordingClient("data", build_data_server(servers.data), log) as data,
        RecordingClient("payment", build_payment_server(servers.payments), log) as payment,
        RecordingClient("notify", build_notify_server(servers.notify), log) as notify,
    ):
        gateway = DataGateway(data)
        tickets = TicketService(gateway, clock=servers.clock, venue_tz=ZoneInfo("UTC"))
        yield Journey(tickets, gateway, PaymentGateway(payment), NotifyGateway(notify)), log


async def test_another_customers_ticket_or_order_takes_the_calls_of_a_missing_one(
    servers: Servers, recorded: tuple[Journey, list[str]]
) -> None:
    """The timing side of "answers exactly like one that does not exist": the same calls to
    the other servers, in the same order, so no extra round trip tells the two apart (the
    times themselves are measured by ``bench/bench_not_found.py``)."""
    journey, log = recorded
    tickets = journey.tickets
    day = TODAY + timedelta(days=12)
    johns_order = await servers.journey.select_upgrade(JOHN, "TKT-JD0001", "standard", day, "k-01")
    missing_order = seed_id("ord", "no such order")
    Call = Callable[[str], Awaitable[object]]
    on_tickets: list[Call] = [
        lambda n: tickets.get_ticket(JANE, n),
        lambda n: tickets.check_upgrade_eligibility(JANE, n),
        lambda n: tickets.get_upgrade_options(JANE, n),
        lambda n: tickets.get_availability_calendar(JANE, n, "non_stop"),
        lambda n: tickets.quote_upgrade(JANE, n, "non_stop", day),
        lambda n: journey.select_upgrade(JANE, n, "non_stop", day, "jane-select-01"),
    ]
    on_orders: list[Call] = [
        lambda o: journey.get_upgrade_order(JANE, o),
        lambda o: journey.pay_upgrade(JANE, o, "pm_card_visa", "jane-pay-0001"),
        lambda o: journey.cancel_upgrade(JANE, o, "jane-cancel-01"),
    ]
    cases = [(c, "TKT-JD0001", "TKT-JD9999") for c in on_tickets]
    cases += [(c, johns_order.order_id, missing_order) for c in on_orders]
    for call, theirs, missing in cases:
        answers = []
        for name in (theirs, missing):
            log.clear()
            with pytest.raises(DomainError) as caught:
                await call(name)
            shape = caught.value.message.replace(name, "<name>")
            answers.append((caught.value.code, shape, list(log)))
        assert answers[0] == answers[1], answers
        code, _, calls = answers[0]
        assert code in ("TICKET_NOT_FOUND", "ORDER_NOT_FOUND")
        assert calls, "at least the lookup itself"
        assert all(c.startswith("data.") for c in calls), calls
    assert (await servers.journey.get_upgrade_order(JOHN, johns_order.order_id)).status == (
        "awaiting_payment"
    )


async def test_each_step_of_the_journey_makes_the_calls_it_needs_and_no_more(
    recorded: tuple[Journey, list[str]],
) -> None:
    """The internal calls of each customer call, pinned: in AWS each crosses the AgentCore
    front door (tens of ms), so these, not CPU, set the journey's latency there
    (bench_journey measures what they cost). A change that adds one to the hot path fails."""
    journey, log = recorded
    tickets = journey.tickets
    day = TODAY + timedelta(days=12)

    mine = await tickets.list_my_tickets(JOHN)
    assert "TKT-JD0001" in {t.ticket_number for t in mine.tickets}
    assert log == ["data.list_tickets"]

    log.clear()
    options = await tickets.get_upgrade_options(JOHN, "TKT-JD0001")
    assert any(o.available for o in options.tiers)
    assert log == ["data.get_ticket"]

    log.clear()
    calendar = await tickets.get_availability_calendar(JOHN, "TKT-JD0001", "standard")
    assert any(d.date == day and d.available for d in calendar.days)
    # The ticket and the seats of its calendar in one call.
    assert log == ["data.get_ticket_and_inventory"]

    log.clear()
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", day, "select-hops-01")
    assert order.status == "awaiting_payment"
    # The data server checks the ticket as it holds the seat (no read first). Not one: the
    # intent's metadata names the order, which must exist first, and the order records the
    # intent (bench/README.md, "Internal hops").
    assert log == [
        "data.reserve_upgrade",
        "payment.create_payment_intent",
        "data.attach_payment",
    ]

    log.clear()
    paid = await journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-hops-0001")
    assert (paid.payment_status, paid.order.status) == ("succeeded", "confirmed")
    # This process opened the order, so it knows its payment: no read first. Answered once
    # confirmed: the confirmation e-mail is queued after the answer, and confirming answers
    # with the customer to e-mail, so no call looks them up.
    assert log == ["payment.confirm_payment_intent", "data.confirm_order"]
    await journey.drain()
    assert log[2:] == ["notify.send_email"]


async def test_a_calendar_refuses_a_ticket_before_its_dates(
    recorded: tuple[Journey, list[str]],
) -> None:
    journey, log = recorded
    tickets = journey.tickets
    start, end = TODAY + timedelta(days=9), TODAY + timedelta(days=8)
    await refused(
        "TICKET_NOT_FOUND",
        tickets.get_availability_calendar(JANE, "TKT-JD0001", "standard", start, end),
    )
    await refused(
        "INVALID_ARGUMENT",
        tickets.get_availability_calendar(JOHN, "TKT-JD0001", "standard", start, end),
    )
    log.clear()
    loose = await tickets.get_availability_calendar(JOHN, "jd0001", "standard")
    assert loose.ticket_number == "TKT-JD0001"
    # Not a number as written: the customer's tickets are listed to resolve it first.
    assert log == ["data.list_tickets", "data.get_ticket_and_inventory"]


async def test_only_operators_act_for_another_customer(tickets: TicketService) -> None:
    await refused("NOT_ALLOWED", tickets.list_my_tickets(JANE, JOHN.customer_id))
    assert JOHN.customer_id is not None
    for_john = await tickets.list_my_tickets(OPS, JOHN.customer_id)
    assert len(for_john.tickets) == 4
    await refused("NOT_ALLOWED", tickets.list_my_tickets(OPS))


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


@pytest.mark.parametrize("tier", rules.TIERS)
async def test_public_prices_are_the_ticket_bound_ones(tickets: TicketService, tier: Tier) -> None:
    # TKT-JD0001 is an eligible general ticket: its calendar and the public one must agree.
    public = await tickets.get_price_calendar("general", tier)
    own = await tickets.get_availability_calendar(JOHN, "TKT-JD0001", tier)
    assert public.days == own.days
    assert len(public.days) == rules.DEFAULT_CALENDAR_DAYS
    assert public.days[0].date == rules.first_bookable_date(NOW, ZoneInfo("UTC"))
    day = public.days[-1].date
    quoted = await tickets.quote_price("general", tier, day)
    quote = await tickets.quote_upgrade(JOHN, "TKT-JD0001", tier, day)
    assert quoted.model_dump() == quote.model_dump(exclude={"ticket_number", "hold_minutes"})
    await refused("DATE_NOT_BOOKABLE", tickets.quote_price("general", tier, TODAY))
    await refused("NO_UPGRADE_PATH", tickets.quote_price("premium", tier, day))
    await refused("NO_UPGRADE_PATH", tickets.get_price_calendar("premium", tier))


async def test_selecting_refuses_exactly_as_quoting_before_it_did(servers: Servers) -> None:
    """select_upgrade holds the seat without quoting first: the data server checks the ticket
    on the hold's terms, and only a refusal is worded through the quote. Over every seeded
    customer's tickets, someone else's, a missing one and a loosely written one, every tier,
    on dates offered or not (too soon, too far), selecting answers as quoting first did: the
    quote's refusal, the open order's when the quote allows it, or the seat held at the quoted
    price."""
    journey, tickets = servers.journey, servers.journey.tickets
    days = [TODAY + timedelta(days=1), TODAY + timedelta(days=12), TODAY + timedelta(days=120)]
    seen: Counter[str] = Counter()
    n = 0
    for email in CUSTOMERS:
        caller = Caller(customer_id=seed_id("cus", email))
        references = [t.ticket_number for t in (await tickets.list_my_tickets(caller)).tickets]
        references += ["TKT-JD0001" if caller != JOHN else "TKT-JS0001", "TKT-NOSUCH1", "jd0001"]
        for reference, tier in product(references, rules.TIERS):
            n += 1
            day = days[n % len(days)]  # each date in turn: a third of the calls, same coverage
            where = (email, reference, tier, day)
            quote = await outcome(
                tickets.quote_upgrade(caller, reference, tier, day, open_order_allowed=True)
            )
            order = await outcome(
                journey.select_upgrade(caller, reference, tier, day, f"s-{n:04d}")
            )
            if isinstance(order, UpgradeOrder):
                assert isinstance(quote, Quote), (where, quote)
                assert (order.ticket_number, order.amount_cents) == (
                    quote.ticket_number,
                    quote.total_cents,
                )
                await journey.cancel_upgrade(caller, order.order_id, f"c-{n:04d}")
                seen["held"] += 1
            elif isinstance(quote, DomainError):
                assert (order.code, order.message) == (quote.code, quote.message), where
                seen[order.code] += 1
            else:  # the open order, which the quote allowed: refused by one that does not
                assert order.code in ("ALREADY_UPGRADED", "HOLD_EXISTS"), (where, order)
                await refused(order.code, tickets.quote_upgrade(caller, reference, tier, day))
                seen[order.code] += 1
    assert set(seen) == {
        "held",
        "TICKET_NOT_FOUND",
        "NO_UPGRADE_PATH",
        "TICKET_NOT_ACTIVE",
        "TOO_LATE",
        "ALREADY_UPGRADED",
        "DATE_NOT_BOOKABLE",
    }, seen


async def test_selecting_reads_the_ticket_only_when_the_hold_is_refused_or_loosely_asked(
    recorded: tuple[Journey, list[str]],
) -> None:
    journey, log = recorded
    day = TODAY + timedelta(days=12)
    # A premium ticket has no upgrade path: refused by the hold's terms, worded by the quote.
    await refused(
        "NO_UPGRADE_PATH",
        journey.select_upgrade(JOHN, "TKT-JD0004", "standard", day, "no-path-0001"),
    )
    assert log == ["data.reserve_upgrade", "data.get_ticket"]
    log.clear()
    order = await journey.select_upgrade(JOHN, "jd0001", "standard", day, "loose-0001")
    assert order.ticket_number == "TKT-JD0001"
    assert log == [
        "data.list_tickets",
        "data.get_ticket",
        "data.reserve_upgrade",
        "payment.create_payment_intent",
        "data.attach_payment",
    ]


async def test_paying_an_order_another_process_opened_reads_it_first(
    servers: Servers, recorded: tuple[Journey, list[str]]
) -> None:
    journey, log = recorded
    day = TODAY + timedelta(days=12)
    order = await servers.journey.select_upgrade(
        JOHN, "TKT-JD0001", "standard", day, "elsewhere-01"
    )
    paid = await journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-elsewhere-01")
    assert (paid.payment_status, paid.order.status) == ("succeeded", "confirmed")
    assert log[:3] == ["data.get_order", "payment.confirm_payment_intent", "data.confirm_order"]


async def test_an_order_opened_here_is_paid_as_it_stands_after_another_process_moved_it(
    servers: Servers, recorded: tuple[Journey, list[str]]
) -> None:
    """What this process remembers of an order it opened is only what never changes: an order
    cancelled or paid since through another process is answered as it is now, and charged at
    most once."""
    journey, _ = recorded
    day = TODAY + timedelta(days=12)
    cancelled = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", day, "moved-0001")
    await servers.journey.cancel_upgrade(JOHN, cancelled.order_id, "moved-cancel-01")
    closed = await refused(
        "ORDER_CLOSED",
        journey.pay_upgrade(JOHN, cancelled.order_id, "pm_card_visa", "moved-pay-01"),
    )
    assert closed.message == f"order {cancelled.order_id} is cancelled"
    assert cancelled.payment_intent_id is not None
    intent = await servers.payments.get_payment_intent(TRUSTED, cancelled.payment_intent_id)
    assert (intent.status, intent.amount_received_cents) == ("canceled", 0)

    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", day, "moved-0002")
    first = await servers.journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "moved-pay-02")
    again = await journey.pay_upgrade(JOHN, order.order_id, "pm_card_mastercard", "moved-pay-03")
    assert (again.payment_status, again.order.status) == ("succeeded", "confirmed")
    assert again.order.confirmation_code == first.order.confirmation_code
    assert order.payment_intent_id is not None
    intent = await servers.payments.get_payment_intent(TRUSTED, order.payment_intent_id)
    assert intent.amount_received_cents == order.amount_cents, "charged once"
    await journey.drain()
    assert await servers.emails(order.order_id) == ["upgrade_confirmed"]


async def test_an_order_opened_here_whose_hold_lapsed_is_asked_for(
    servers: Servers, recorded: tuple[Journey, list[str]]
) -> None:
    journey, log = recorded
    order = await journey.select_upgrade(
        JOHN, "TKT-JD0001", "standard", TODAY + timedelta(days=12), "lapsed-0001"
    )
    servers.clock.now += timedelta(minutes=16)
    log.clear()
    await refused(
        "HOLD_EXPIRED", journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "lapsed-pay-01")
    )
    assert log == ["data.get_order"]


class ChangingTicketGateway(DataGateway):
    """The data server as it answers while the ticket changes under each hold: every hold is
    refused for the ticket, though each read finds it eligible."""

    async def reserve(self, **arguments: Any) -> RemoteOrder:
        raise TicketRefused(f"ticket {arguments['ticket_number']} changed")


async def test_a_ticket_that_changes_under_every_hold_is_refused_in_so_many_words(
    recorded: tuple[Journey, list[str]],
) -> None:
    journey, log = recorded
    changing = ChangingTicketGateway(journey.data.client)
    tickets = TicketService(changing, clock=journey.tickets.clock, venue_tz=ZoneInfo("UTC"))
    flaky = Journey(tickets, changing, journey.payments, journey.notify)
    day = TODAY + timedelta(days=12)
    changed = await refused(
        "TICKET_CHANGED", flaky.select_upgrade(JOHN, "TKT-JD0001", "standard", day, "flaky-0001")
    )
    assert "select the upgrade again" in changed.message
    assert log == ["data.get_ticket", "data.get_ticket"], "quoted after each refused hold"
