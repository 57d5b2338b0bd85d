"""The database round trips of the data tools on the journey's hot path, pinned.

Each round trip costs the data server a wake-up of PostgreSQL and a wait for its answer (about a
sixth of the data server's CPU in a journey, bench/README.md), so a change that adds one to a
hot tool fails here, as one that adds an internal call fails ``tests/ticket/test_service.py``.
A transaction counts its BEGIN and COMMIT (on the Data API: BeginTransaction and
CommitTransaction)."""

from __future__ import annotations

import pytest

from servers.core.db import Database
from servers.data.models import Order
from servers.data.service import DataService
from tests.round_trips import CountingDatabase, round_trips

from .conftest import FakeClock
from .test_service import PRICE, UPGRADE_DAY, key, new_ticket, reserve


@pytest.fixture
def counting(db: Database) -> CountingDatabase:
    return CountingDatabase(db)


@pytest.fixture
def counted_svc(counting: CountingDatabase, clock: FakeClock) -> DataService:
    return DataService(counting, clock=clock)


async def test_the_journeys_data_tools_keep_their_round_trips(
    counted_svc: DataService, counting: CountingDatabase
) -> None:
    svc = counted_svc
    ticket = await new_ticket(svc)
    # The date's capacity row exists, as it does for every date after its first hold.
    await reserve(svc, await new_ticket(svc))
    held: list[Order] = []

    async def hold() -> None:
        held.append(await reserve(svc, ticket))

    counts = {
        "list_tickets": await round_trips(
            counting, lambda: svc.list_tickets(ticket.customer_id, "active")
        ),
        "get_ticket": await round_trips(counting, lambda: svc.get_ticket(ticket.ticket_number)),
        "get_ticket_and_inventory": await round_trips(
            counting,
            lambda: svc.get_ticket_and_inventory(
                ticket.ticket_number, ticket.customer_id, UPGRADE_DAY, UPGRADE_DAY, "non_stop"
            ),
        ),
        "reserve_upgrade": await round_trips(counting, hold),
    }
    order_id = held[0].order_id
    counts |= {
        "attach_payment": await round_trips(
            counting, lambda: svc.attach_payment(order_id, "pi_counted")
        ),
        "get_order": await round_trips(counting, lambda: svc.get_order(order_id)),
        "confirm_order": await round_trips(
            counting, lambda: svc.confirm_order_with_customer(order_id, "pi_counted", PRICE)
        ),
    }
    assert counts == {
        # A customer's tickets; the customer is looked up only when there are none.
        "list_tickets": 1,
        # The ticket with its open order, in one statement.
        "get_ticket": 1,
        "get_ticket_and_inventory": 2,
        # BEGIN, the key claimed, the ticket locked, a lapsed hold expired with the open order
        # and the unlocked sold-out check (one statement), the capacity locked, the seats
        # counted, the order, the key's answer, COMMIT.
        "reserve_upgrade": 9,
        # One conditional UPDATE, committed on its own (no BEGIN and COMMIT around it).
        "attach_payment": 1,
        "get_order": 1,
        # BEGIN, the ticket locked through its order, the order locked, the order confirmed
        # with its ticket upgraded (one statement), COMMIT; then the customer.
        "confirm_order": 6,
    }
    assert held[0].status == "awaiting_payment"

    confirmed = await svc.get_order(order_id)
    assert confirmed.status == "confirmed"
    assert confirmed.payment_intent_id == "pi_counted"
    upgraded = await svc.get_ticket(ticket.ticket_number)
    assert upgraded.open_order == confirmed
    assert upgraded.upgrade_tier == "non_stop"
    assert upgraded.visit_date == UPGRADE_DAY


async def test_a_repeated_attach_writes_nothing(
    counted_svc: DataService, counting: CountingDatabase, clock: FakeClock
) -> None:
    svc = counted_svc
    order = await reserve(svc, await new_ticket(svc), idempotency_key=key())
    first = await svc.attach_payment(order.order_id, "pi_once")
    clock.advance(minutes=1)
    again = await svc.attach_payment(order.order_id, "pi_once")
    assert again == first  # updated_at too: the repeat found it attached and wrote nothing
