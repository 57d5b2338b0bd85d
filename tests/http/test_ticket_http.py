"""The ticket server with the whole stack as real processes over real HTTP: a customer's journey
from their ticket to a confirmed upgrade (one charge, one e-mail), declines, transient errors,
cancellation with a refund, isolation between customers, and 200 buyers racing for 5 seats."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx
import psycopg
import pytest
from fastmcp import Client
from fastmcp.client.client import CallToolResult
from fastmcp.client.transports import StreamableHttpTransport
from mcp_types import TextContent

from servers.core.scopes import TICKETS_CATALOGUE, TICKETS_WEBHOOKS
from servers.core.webhooks import SIGNATURE_HEADER, sign_webhook
from servers.data.seed import seed_id
from servers.devidp.clients import ClientRegistry
from servers.devidp.keys import SigningKey
from servers.edge import handoff
from servers.edge.handoff import ClientToken, Outcome, TicketEvents
from servers.edge.rest import WEBHOOK_PATH, Edge
from ticketing.mailsink import Received

pytestmark = pytest.mark.http

JOHN = seed_id("cus", "john.doe@example.com")
JANE = seed_id("cus", "jane.smith@example.com")
MAIL_DEADLINE = 30.0
WEBHOOK_DEADLINE = 30.0

McpClient = Client[StreamableHttpTransport]


class ServerProcess(Protocol):
    """What these tests use of one server process (``tests/http/conftest.py``)."""

    @property
    def url(self) -> str: ...
    @property
    def log(self) -> Path: ...
    def kill(self) -> None: ...


class Base(Protocol):
    @property
    def data(self) -> ServerProcess: ...
    @property
    def key(self) -> SigningKey: ...
    @property
    def issuer(self) -> str: ...
    def token(self, scopes: Iterable[str], *, client_id: str, sub: str | None = None) -> str: ...


class Mailbox(Protocol):
    def messages(self, to: str | None = None) -> list[Received]: ...


class FullStack(Protocol):
    """What these tests use of the ``full_stack`` fixture."""

    @property
    def base(self) -> Base: ...
    @property
    def payment(self) -> ServerProcess: ...
    @property
    def notify(self) -> ServerProcess: ...
    @property
    def ticket(self) -> ServerProcess: ...
    @property
    def mailbox(self) -> Mailbox: ...
    @property
    def database_url(self) -> str: ...
    def mcp_url(self, server: ServerProcess) -> str: ...
    def ops_token(self) -> str: ...
    def customer_token(self, customer_id: str) -> str: ...
    def restart_ticket(self) -> None: ...


def client(full: FullStack, server: ServerProcess, token: str) -> McpClient:
    return Client(StreamableHttpTransport(full.mcp_url(server), auth=token), timeout=60)


def key(what: str = "k") -> str:
    return f"{what}-{uuid.uuid4().hex}"


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def ok(mcp: McpClient, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool call that must succeed; its structured result."""
    result = await mcp.call_tool(tool, arguments, raise_on_error=False)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    assert result.structured_content is not None
    return result.structured_content


async def error(mcp: McpClient, tool: str, **arguments: Any) -> str:
    """A tool call that must be a tool error; its text."""
    result = await mcp.call_tool(tool, arguments, raise_on_error=False)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    return text_of(result)


async def new_customer(full: FullStack, *, days_ahead: int = 20) -> tuple[str, str, str]:
    """A fresh customer with one active general ticket: (customer id, e-mail, ticket number)."""
    async with client(full, full.base.data, full.ops_token()) as data:
        return await customer_with_ticket(data, date.today() + timedelta(days=days_ahead))


async def customer_with_ticket(data: McpClient, visit_date: date) -> tuple[str, str, str]:
    """:func:`new_customer` on an operator's session of the data server the caller holds."""
    email = f"http-{uuid.uuid4().hex[:12]}@example.com"
    customer = await ok(
        data, "create_customer", email=email, full_name="Test Buyer", idempotency_key=key()
    )
    ticket = await ok(
        data,
        "issue_ticket",
        customer_id=customer["customer_id"],
        ticket_type="general",
        visit_date=visit_date.isoformat(),
        price_cents=4900,
        idempotency_key=key(),
    )
    return customer["customer_id"], email, ticket["ticket_number"]


def outstanding_mail(full: FullStack, email: str) -> int:
    """Messages to ``email`` the notify server still has to deliver (or retry)."""
    with psycopg.connect(full.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM notify.messages WHERE lower(recipient) = lower(%s)"
            " AND status IN ('queued', 'sending', 'failed')",
            (email,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def settled_mail(full: FullStack, email: str, expected: int) -> list[Received]:
    """The e-mails to ``email`` once at least ``expected`` arrived and the notify server has
    nothing left to send to that address (so a duplicate would have shown up by then)."""
    deadline = time.monotonic() + MAIL_DEADLINE
    while True:
        received = full.mailbox.messages(to=email)
        if len(received) >= expected and outstanding_mail(full, email) == 0:
            return received
        if time.monotonic() > deadline:
            return received
        await anyio.sleep(0.1)


def webhook_attempts(full: FullStack, intent_id: str) -> tuple[int, bool]:
    """How often the intent's payment_intent.succeeded webhook was attempted, and whether it
    has been delivered."""
    with psycopg.connect(full.database_url) as conn:
        row = conn.execute(
            "SELECT d.attempts, d.status = 'delivered' FROM payment.webhook_deliveries d"
            " JOIN payment.events e USING (event_id)"
            " WHERE e.payment_intent_id = %s AND e.type = 'payment_intent.succeeded'",
            (intent_id,),
        ).fetchone()
    return (0, False) if row is None else (int(row[0]), bool(row[1]))


async def wait_for(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WEBHOOK_DEADLINE
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await anyio.sleep(0.1)


def subjects(received: list[Received]) -> list[str]:
    return [r.subject for r in received]


def kinds(received: list[Received]) -> list[str]:
    """Which e-mails arrived, sorted: the notify worker may send a batch in any order."""
    by_subject = {
        "is confirmed": "confirmed",
        "did not go through": "payment_failed",
        "is cancelled": "cancelled",
    }
    return sorted(
        next((kind for part, kind in by_subject.items() if part in r.subject), r.subject)
        for r in received
    )


async def pay(ticket: McpClient, order_id: str, payment_method: str) -> dict[str, Any]:
    """pay_upgrade with a fresh idempotency key, which must answer (declined is an answer)."""
    return await ok(
        ticket,
        "pay_upgrade",
        order_id=order_id,
        payment_method=payment_method,
        idempotency_key=key("pay"),
    )


async def select(
    full: FullStack, token: str, ticket_number: str, tier: str = "double_fun"
) -> dict[str, Any]:
    """The first bookable date of the calendar, selected."""
    async with client(full, full.ticket, token) as ticket:
        calendar = await ok(
            ticket, "get_availability_calendar", ticket_number=ticket_number, tier=tier
        )
        day = next(d for d in calendar["days"] if d["available"])
        order = await ok(
            ticket,
            "select_upgrade",
            ticket_number=ticket_number,
            tier=tier,
            date=day["date"],
            idempotency_key=key("select"),
        )
    assert order["status"] == "awaiting_payment"
    assert order["amount_cents"] == day["price_cents"]
    return order


async def intent(full: FullStack, intent_id: str) -> dict[str, Any]:
    async with client(full, full.payment, full.ops_token()) as payment:
        return await ok(payment, "get_payment_intent", payment_intent_id=intent_id)


async def test_the_whole_journey_confirms_once_charges_once_and_mails_once(
    full_stack: FullStack,
) -> None:
    customer, email, number = await new_customer(full_stack)
    token = full_stack.customer_token(customer)
    async with client(full_stack, full_stack.ticket, token) as ticket:
        mine = await ok(ticket, "list_my_tickets")
        assert [t["ticket_number"] for t in mine["tickets"]] == [number]
        options = await ok(ticket, "get_upgrade_options", ticket_number=number)
        assert [o["tier"] for o in options["tiers"]] == ["standard", "non_stop", "double_fun"]
        assert all(o["available"] for o in options["tiers"]), options
        calendar = await ok(
            ticket, "get_availability_calendar", ticket_number=number, tier="double_fun"
        )
        day = next(d for d in calendar["days"] if d["available"] and d["seats_left"] > 0)
        order = await ok(
            ticket,
            "select_upgrade",
            ticket_number=number,
            tier="double_fun",
            date=day["date"],
            idempotency_key=key("select"),
        )
        assert order["status"] == "awaiting_payment"
        assert order["amount_cents"] == day["price_cents"]
        paid = await pay(ticket, order["order_id"], "pm_card_visa")
        assert paid["payment_status"] == "succeeded", paid
        confirmed = paid["order"]
        assert confirmed["status"] == "confirmed"
        assert confirmed["confirmation_code"]
        ticket_now = await ok(ticket, "get_ticket", ticket_number=number)
        assert ticket_now["upgrade_tier"] == "double_fun"
        assert ticket_now["visit_date"] == day["date"]

    charged = await intent(full_stack, order["payment_intent_id"])
    assert charged["status"] == "succeeded"
    assert charged["amount_received_cents"] == order["amount_cents"]

    received = await settled_mail(full_stack, email, 1)
    assert len(received) == 1, subjects(received)
    assert "is confirmed" in received[0].subject
    assert confirmed["confirmation_code"] in received[0].subject


async def test_a_declined_card_then_a_good_one_mails_a_failure_then_a_confirmation(
    full_stack: FullStack,
) -> None:
    customer, email, number = await new_customer(full_stack)
    token = full_stack.customer_token(customer)
    order = await select(full_stack, token, number)
    async with client(full_stack, full_stack.ticket, token) as ticket:
        declined = await pay(ticket, order["order_id"], "pm_card_chargeDeclined")
        assert declined["payment_status"] == "declined", declined
        assert declined["decline_code"] == "generic_decline"
        assert declined["order"]["status"] == "awaiting_payment"
        paid = await pay(ticket, order["order_id"], "pm_card_visa")
        assert paid["payment_status"] == "succeeded", paid
        assert paid["order"]["status"] == "confirmed"
    charged = await intent(full_stack, order["payment_intent_id"])
    assert charged["amount_received_cents"] == order["amount_cents"]

    received = await settled_mail(full_stack, email, 2)
    assert kinds(received) == ["confirmed", "payment_failed"], subjects(received)


async def test_transient_processor_errors_are_retried_into_one_charge(
    full_stack: FullStack,
) -> None:
    customer, email, number = await new_customer(full_stack)
    token = full_stack.customer_token(customer)
    order = await select(full_stack, token, number)
    async with client(full_stack, full_stack.ticket, token) as ticket:
        paid = await pay(ticket, order["order_id"], "pm_card_transientProcessingError")
    assert paid["payment_status"] == "succeeded", paid
    assert paid["order"]["status"] == "confirmed"
    charged = await intent(full_stack, order["payment_intent_id"])
    assert charged["status"] == "succeeded"
    assert charged["amount_received_cents"] == order["amount_cents"]
    with psycopg.connect(full_stack.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*)"
            " FROM payment.charges WHERE payment_intent_id = %s",
            (order["payment_intent_id"],),
        ).fetchone()
    assert row is not None
    assert row[0] == 1, f"succeeded charges: {row[0]} of {row[1]} attempts"

    received = await settled_mail(full_stack, email, 1)
    assert len(received) == 1, subjects(received)
    assert "is confirmed" in received[0].subject


async def test_cancelling_a_confirmed_upgrade_refunds_and_reverts_the_ticket(
    full_stack: FullStack,
) -> None:
    customer, email, number = await new_customer(full_stack)
    token = full_stack.customer_token(customer)
    async with client(full_stack, full_stack.ticket, token) as ticket:
        before = await ok(ticket, "get_ticket", ticket_number=number)
        order = await select(full_stack, token, number)
        paid = await pay(ticket, order["order_id"], "pm_card_visa")
        assert paid["order"]["status"] == "confirmed"
        cancelled = await ok(
            ticket, "cancel_upgrade", order_id=order["order_id"], idempotency_key=key("cancel")
        )
        assert cancelled["status"] == "refunded"
        after = await ok(ticket, "get_ticket", ticket_number=number)
    assert after["upgrade_tier"] is None
    assert after["visit_date"] == before["visit_date"]
    refunded = await intent(full_stack, order["payment_intent_id"])
    assert refunded["amount_refunded_cents"] == order["amount_cents"]

    received = await settled_mail(full_stack, email, 2)
    assert kinds(received) == ["cancelled", "confirmed"], subjects(received)


def shape(text: str, identifier: str) -> str:
    assert identifier in text, text
    return text.replace(identifier, "<id>")


async def test_another_customers_ticket_order_and_intent_look_missing(
    full_stack: FullStack,
) -> None:
    john = full_stack.customer_token(JOHN)
    jane = full_stack.customer_token(JANE)
    # One of John's orders, with its payment intent.
    async with client(full_stack, full_stack.ticket, john) as ticket:
        order = await ok(
            ticket,
            "select_upgrade",
            ticket_number="TKT-JD0002",
            tier="double_fun",
            date=(await ok(ticket, "get_ticket", ticket_number="TKT-JD0002"))["visit_date"],
            idempotency_key=key("select"),
        )
    made_up_ticket, made_up_order, made_up_intent = (
        "TKT-ZZ9999",
        "ord_" + "a" * 26,
        "pi_" + "a" * 26,
    )
    async with client(full_stack, full_stack.ticket, jane) as ticket:
        for tool, extra in [
            ("get_ticket", {}),
            ("get_upgrade_options", {}),
            ("check_upgrade_eligibility", {}),
            ("get_availability_calendar", {"tier": "double_fun"}),
            (
                "select_upgrade",
                {
                    "tier": "double_fun",
                    "date": order["visit_date"],
                    "idempotency_key": key(),
                },
            ),
            ("quote_upgrade", {"tier": "double_fun", "date": order["visit_date"]}),
        ]:
            theirs = await error(ticket, tool, ticket_number="TKT-JD0001", **extra)
            missing = await error(ticket, tool, ticket_number=made_up_ticket, **extra)
            assert theirs.startswith("TICKET_NOT_FOUND:"), theirs
            assert shape(theirs, "TKT-JD0001") == shape(missing, made_up_ticket)
        for tool, extra in [
            ("get_upgrade_order", {}),
            ("pay_upgrade", {"payment_method": "pm_card_visa", "idempotency_key": key()}),
            ("cancel_upgrade", {"idempotency_key": key()}),
        ]:
            theirs = await error(ticket, tool, order_id=order["order_id"], **extra)
            missing = await error(ticket, tool, order_id=made_up_order, **extra)
            assert theirs.startswith("ORDER_NOT_FOUND:"), theirs
            assert shape(theirs, order["order_id"]) == shape(missing, made_up_order)
        # Naming John outright is refused, not answered with his things: the customer tools
        # have no such argument, and the operators' variants are not hers to call.
        for tool in ("list_my_tickets", "list_my_orders"):
            refused = await error(ticket, tool, customer_id=JOHN)
            assert refused.startswith("INVALID_ARGUMENT:"), refused
    async with httpx.AsyncClient(timeout=30) as http:
        for tool in ("list_tickets_for_customer", "list_orders_for_customer"):
            answer = await post_call(http, full_stack, jane, tool, {"customer_id": JOHN})
            assert answer.status_code == 403, answer.text
            assert answer.json()["error"] == "insufficient_scope"
    async with client(full_stack, full_stack.payment, jane) as payment:
        for tool, extra in [
            ("get_payment_intent", {}),
            (
                "confirm_payment_intent",
                {"payment_method": "pm_card_visa", "idempotency_key": key()},
            ),
        ]:
            pi = order["payment_intent_id"]
            theirs = await error(payment, tool, payment_intent_id=pi, **extra)
            missing = await error(payment, tool, payment_intent_id=made_up_intent, **extra)
            assert theirs.startswith("PAYMENT_INTENT_NOT_FOUND:"), theirs
            assert shape(theirs, pi) == shape(missing, made_up_intent)
    # Nothing Jane tried touched John's order or charged anything.
    async with client(full_stack, full_stack.ticket, john) as ticket:
        still = await ok(ticket, "get_upgrade_order", order_id=order["order_id"])
        assert still["status"] == "awaiting_payment"
        await ok(ticket, "cancel_upgrade", order_id=order["order_id"], idempotency_key=key())
    assert (await intent(full_stack, order["payment_intent_id"]))["amount_received_cents"] == 0


async def post_call(
    http: httpx.AsyncClient, full: FullStack, token: str, tool: str, arguments: dict[str, Any]
) -> httpx.Response:
    """One tools/call over plain HTTP, to see the status a refused one gets."""
    return await http.post(
        full.mcp_url(full.ticket),
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        },
        headers={
            "Accept": "application/json, text/event-stream",
            "Authorization": f"Bearer {token}",
        },
    )


async def test_the_catalogue_scope_reaches_public_prices_and_nothing_else(
    full_stack: FullStack,
) -> None:
    token = full_stack.base.token([TICKETS_CATALOGUE], client_id="host-agent", sub="host-agent")
    async with client(full_stack, full_stack.ticket, token) as visitor:
        listed = {t.name for t in await visitor.list_tools()}
        # Public prices and the public help texts: nothing about any customer.
        assert listed == {"get_price_calendar", "quote_price", "search_help"}
        calendar = await ok(visitor, "get_price_calendar", ticket_type="general", tier="standard")
        assert len(calendar["days"]) == 60
        day = calendar["days"][0]
        quote = await ok(
            visitor, "quote_price", ticket_type="general", tier="standard", date=day["date"]
        )
        assert quote["total_cents"] == day["price_cents"]
    async with client(full_stack, full_stack.ticket, full_stack.ops_token()) as ops:
        everything = {t.name for t in await ops.list_tools()}
    assert listed < everything
    arguments: dict[str, Any] = {
        "ticket_number": "TKT-JD0001",
        "order_id": "ord_" + "a" * 26,
        "customer_id": JOHN,
    }
    async with httpx.AsyncClient(timeout=30) as http:
        for tool in sorted(everything - listed):
            answer = await post_call(http, full_stack, token, tool, arguments)
            assert answer.status_code == 403, (tool, answer.text)
            assert answer.json()["error"] == "insufficient_scope"


async def test_a_service_token_on_a_customer_tool_is_not_allowed_in_plain_words(
    full_stack: FullStack,
) -> None:
    token = full_stack.base.token(["tickets/read"], client_id="host-agent")
    async with client(full_stack, full_stack.ticket, token) as host:
        refused = await error(host, "get_ticket", ticket_number="TKT-JD0001")
    assert refused.startswith("NOT_ALLOWED: "), refused
    assert "customer_id" not in refused
    assert "INVALID_ARGUMENT" not in refused


async def test_the_seeded_confirmed_upgrade_is_cancelled_with_a_refund(
    full_stack: FullStack,
) -> None:
    jane = full_stack.customer_token(JANE)
    async with client(full_stack, full_stack.ticket, jane) as ticket:
        orders = await ok(ticket, "list_my_orders")
        [seeded] = [o for o in orders["orders"] if o["ticket_number"] == "TKT-JS0003"]
        if seeded["status"] == "confirmed":  # the module's stack is shared: maybe done before
            cancelled = await ok(
                ticket, "cancel_upgrade", order_id=seeded["order_id"], idempotency_key=key()
            )
            assert cancelled["status"] == "refunded"
        after = await ok(ticket, "get_ticket", ticket_number="js0003")
    assert after["upgrade_tier"] is None
    refunded = await intent(full_stack, seeded["payment_intent_id"])
    assert refunded["amount_refunded_cents"] == seeded["amount_cents"]


BUYERS = 200
SEATS = 5
CREATORS = 20


async def test_200_buyers_race_for_5_seats(full_stack: FullStack) -> None:
    run = uuid.uuid4().hex[:8]
    race_date = date.today() + timedelta(days=50)
    ops = full_stack.ops_token()
    buyers: list[tuple[str, str]] = []  # (customer id, ticket number)

    async def create(lane: int) -> None:
        """Every CREATORS-th buyer, on one session of the operator's: the buyers are the setup,
        not what is tested, and a session each took longer than the race."""
        async with client(full_stack, full_stack.base.data, ops) as data:
            for _ in range(lane, BUYERS, CREATORS):
                customer, _, number = await customer_with_ticket(data, race_date)
                buyers.append((customer, number))

    async with anyio.create_task_group() as tasks:
        for lane in range(CREATORS):
            tasks.start_soon(create, lane)
    assert len(buyers) == BUYERS
    async with client(full_stack, full_stack.base.data, ops) as data:
        await ok(
            data, "set_capacity", date=race_date.isoformat(), tier="double_fun", capacity=SEATS
        )

    go = anyio.Event()
    all_ready = anyio.Event()
    ready = 0
    orders: list[tuple[str, dict[str, Any]]] = []
    sold_out: list[str] = []
    other: list[str] = []

    def arrive() -> None:
        nonlocal ready
        ready += 1
        if ready == BUYERS:
            all_ready.set()

    async def buy(customer: str, number: str) -> None:
        arrived = False
        try:
            async with client(
                full_stack, full_stack.ticket, full_stack.customer_token(customer)
            ) as own:
                arrived = True
                arrive()
                await go.wait()
                result = await own.call_tool(
                    "select_upgrade",
                    {
                        "ticket_number": number,
                        "tier": "double_fun",
                        "date": race_date.isoformat(),
                        "idempotency_key": f"race-{run}-s-{number}",
                    },
                    raise_on_error=False,
                )
        except Exception as exc:  # every outcome is counted, none may be lost
            other.append(f"{number}: {type(exc).__name__}: {exc}")
            if not arrived:
                arrive()
            return
        text = text_of(result)
        if not result.is_error and result.structured_content is not None:
            orders.append((customer, result.structured_content))
        elif result.is_error and text.startswith("SOLD_OUT:"):
            sold_out.append(text)
        else:
            other.append(f"{number}: {text}")

    with anyio.fail_after(90):
        async with anyio.create_task_group() as tasks:
            for customer, number in buyers:
                tasks.start_soon(buy, customer, number)
            await all_ready.wait()
            go.set()

    assert other == []
    assert len(orders) == SEATS
    assert len(sold_out) == BUYERS - SEATS

    for customer, order in orders:
        async with client(full_stack, full_stack.ticket, full_stack.customer_token(customer)) as t:
            paid = await pay(t, order["order_id"], "pm_card_visa")
        assert paid["order"]["status"] == "confirmed", paid

    numbers = [number for _, number in buyers]
    with psycopg.connect(full_stack.database_url) as conn:
        rows = conn.execute(
            "SELECT status, payment_intent_id FROM data.upgrade_orders"
            " WHERE ticket_number = ANY(%s)",
            (numbers,),
        ).fetchall()
        intents = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'succeeded')"
            " FROM payment.payment_intents WHERE metadata->>'ticket_number' = ANY(%s)",
            (numbers,),
        ).fetchone()
    assert sorted(status for status, _ in rows) == ["confirmed"] * SEATS
    assert all(pi is not None for _, pi in rows)
    assert intents == (SEATS, SEATS), "a payment intent was created without a seat"
    async with client(full_stack, full_stack.base.data, ops) as data:
        inventory = await ok(
            data,
            "get_date_inventory",
            start_date=race_date.isoformat(),
            end_date=race_date.isoformat(),
            tier="double_fun",
        )
        integrity = await ok(data, "check_integrity")
    assert integrity["ok"], integrity["violations"]
    [day] = inventory["days"]
    assert (day["sold"], day["seats_left"]) == (SEATS, 0), day


async def test_a_payment_made_while_the_ticket_server_is_down_confirms_once_after_restart(
    full_stack: FullStack,
) -> None:
    customer, email, number = await new_customer(full_stack)
    token = full_stack.customer_token(customer)
    order = await select(full_stack, token, number)
    full_stack.ticket.kill()
    try:
        # The customer pays at the payment server; its webhook finds nobody home.
        async with client(full_stack, full_stack.payment, token) as payment:
            paid = await ok(
                payment,
                "confirm_payment_intent",
                payment_intent_id=order["payment_intent_id"],
                payment_method="pm_card_visa",
                idempotency_key=key("pay"),
            )
        assert paid["status"] == "succeeded"
        async with client(full_stack, full_stack.base.data, full_stack.ops_token()) as data:
            pending = await ok(data, "get_order", order_id=order["order_id"])
        assert pending["status"] == "awaiting_payment"

        async def refused() -> bool:
            return webhook_attempts(full_stack, order["payment_intent_id"])[0] >= 1

        await wait_for(refused, "the webhook to find the ticket server down")
    finally:
        full_stack.restart_ticket()

    async with client(full_stack, full_stack.base.data, full_stack.ops_token()) as data:

        async def confirmed() -> bool:
            got = await ok(data, "get_order", order_id=order["order_id"])
            return bool(got["status"] == "confirmed")

        await wait_for(confirmed, "the retried webhook to confirm the order")
        final = await ok(data, "get_order", order_id=order["order_id"])
    assert final["confirmation_code"]

    async def delivered() -> bool:
        return webhook_attempts(full_stack, order["payment_intent_id"])[1]

    # Recorded by the payment server once the ticket server's answer is back.
    await wait_for(delivered, "the payment server to record the webhook delivered")
    assert webhook_attempts(full_stack, order["payment_intent_id"])[0] >= 2
    charged = await intent(full_stack, order["payment_intent_id"])
    assert charged["amount_received_cents"] == order["amount_cents"]
    received = await settled_mail(full_stack, email, 1)
    assert len(received) == 1, subjects(received)
    assert final["confirmation_code"] in received[0].subject


def signed_event(object_: Any, secret: str) -> tuple[bytes, str]:
    """A payment_intent.succeeded event about ``object_`` (the intent), and its signature."""
    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": object_},
        }
    ).encode()
    return body, sign_webhook(body, secret, int(time.time()))


@pytest.mark.parametrize(
    ("metadata", "status"),
    [
        ({"order_id": "ord_" + "a" * 26}, 200),  # well-formed, but no such order
        ({"order_id": "ord_x"}, 200),  # malformed: the data server refuses it
        ("not-an-object", 200),
        (None, 400),  # no intent at all: not a payment event
    ],
    ids=["unknown-order", "malformed-order", "malformed-metadata", "no-intent"],
)
async def test_a_signed_webhook_about_no_order_of_ours_is_never_a_500(
    full_stack: FullStack, metadata: Any, status: int
) -> None:
    """Such events answered 500, and the payment server retried each ten times."""
    intent = None if metadata is None else {"id": "pi_" + "b" * 26, "metadata": metadata}
    secret = full_stack.base.key.derive_secret("payment-webhook")
    body, signature = signed_event(intent, secret)
    async with httpx.AsyncClient(base_url=full_stack.ticket.url, timeout=10) as http:
        answer = await http.post(
            "/webhooks/payment",
            content=body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
        )
    assert answer.status_code == status, answer.text


# The REST edge's way in (AWS): the event handed on as a tool call ------------------------------


def edge_token(full: FullStack) -> ClientToken:
    """The edge's client-credentials token from the identity provider (client payment-edge)."""
    secret = ClientRegistry.load(full.base.key).client_secret("payment-edge")
    assert secret is not None
    token_url = full.base.issuer.rstrip("/") + "/oauth2/token"
    return ClientToken(token_url, "payment-edge", secret, TICKETS_WEBHOOKS)


def edge_of(full: FullStack, webhook_secret: str) -> tuple[Edge, TicketEvents]:
    ticket = TicketEvents(full.mcp_url(full.ticket), edge_token(full))
    return Edge(webhook_secret=webhook_secret, ticket=ticket), ticket


def lambda_event(body: bytes, signature: str) -> dict[str, Any]:
    """What API Gateway's proxy integration gives the edge's function."""
    return {
        "resource": WEBHOOK_PATH,
        "httpMethod": "POST",
        "headers": {SIGNATURE_HEADER: signature},
        "body": body.decode(),
    }


async def test_the_rest_edge_hands_a_paid_orders_event_on_with_its_own_token(
    full_stack: FullStack,
) -> None:
    customer, _, number = await new_customer(full_stack)
    token = full_stack.customer_token(customer)
    order = await select(full_stack, token, number)
    async with client(full_stack, full_stack.ticket, token) as ticket:
        paid = await pay(ticket, order["order_id"], "pm_card_visa")
    assert paid["order"]["status"] == "confirmed", paid
    secret = full_stack.base.key.derive_secret("payment-webhook")
    body, signature = signed_event(await intent(full_stack, order["payment_intent_id"]), secret)
    edge, events = edge_of(full_stack, secret)

    outcome, receipt = await anyio.to_thread.run_sync(events.hand_on, body.decode(), signature)
    assert outcome is Outcome.RECEIVED
    assert receipt == {
        "event_id": json.loads(body)["id"],
        "duplicate": False,
        "order_id": order["order_id"],
        "order_status": "confirmed",
    }
    answer = await anyio.to_thread.run_sync(edge.handle, lambda_event(body, signature))
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"]) == {"received": True}


async def test_an_event_the_edge_passed_but_the_ticket_server_cannot_verify_is_a_400(
    full_stack: FullStack,
) -> None:
    """The signature is checked twice: an edge with another secret than the payment server's
    (a misconfiguration, or a stolen edge) still cannot make up an event."""
    other = "whsec_" + "o" * 32
    body, signature = signed_event({"id": "pi_" + "c" * 26, "metadata": {}}, other)
    edge, _ = edge_of(full_stack, other)
    answer = await anyio.to_thread.run_sync(edge.handle, lambda_event(body, signature))
    assert answer["statusCode"] == 400, answer
    assert json.loads(answer["body"])["error"] == "invalid_webhook"


async def test_only_the_edges_scope_reaches_the_event_tool_and_nothing_else(
    full_stack: FullStack,
) -> None:
    customer, _, number = await new_customer(full_stack)
    edge_bearer = await anyio.to_thread.run_sync(edge_token(full_stack).get)
    arguments = {"event": "{}", "signature": "t=1,v1=00"}

    async def post(bearer: str, tool: str, args: dict[str, Any]) -> httpx.Response:
        headers = {**handoff.tool_call_headers(tool), "authorization": f"Bearer {bearer}"}
        body = handoff.tool_call_body(tool, args)
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.post(
                full_stack.mcp_url(full_stack.ticket), json=body, headers=headers
            )

    by_customer = await post(full_stack.customer_token(customer), handoff.EVENT_TOOL, arguments)
    assert by_customer.status_code == 403, by_customer.text
    assert "insufficient_scope" in by_customer.headers["www-authenticate"]
    by_edge = await post(edge_bearer, "get_ticket", {"ticket_number": number})
    assert by_edge.status_code == 403, by_edge.text
    refused = await post(edge_bearer, handoff.EVENT_TOOL, arguments)
    assert refused.status_code == 200
    assert refused.json()["result"]["isError"] is True
    assert refused.json()["result"]["content"][0]["text"].startswith("INVALID_WEBHOOK: ")
