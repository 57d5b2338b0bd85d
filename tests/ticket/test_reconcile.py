"""Self-healing: the payment webhook and the hold sweeper bring orders in line with payments."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastmcp import Client
from starlette.applications import Starlette
from starlette.routing import Route

from servers.core.app import KitMCP
from servers.core.auth import Principal, acting_as
from servers.core.client import RemoteUnavailable, ToolCaller
from servers.core.ids import new_id
from servers.core.scopes import CUSTOMER_SCOPES, TICKETS_WEBHOOKS
from servers.core.webhooks import SIGNATURE_HEADER, sign_webhook
from servers.payment.service import TRUSTED
from servers.ticket.gateways import DataGateway, NotifyGateway
from servers.ticket.journey import Journey
from servers.ticket.server import build_server
from servers.ticket.webhooks import EVENT_TOOL, WEBHOOK_PATH, PaymentEvents

from .conftest import Servers
from .support import JOHN

DAY = date(2027, 1, 14)  # a Thursday in January: standard band
SECRET = "whsec_test_0123456789abcdef"


async def paid_behind_our_back(servers: Servers, ticket: str = "TKT-JD0001") -> str:
    """A held order whose payment went through but whose confirmation never ran (a crash)."""
    order = await servers.journey.select_upgrade(JOHN, ticket, "standard", DAY, f"sel-{ticket}")
    assert order.payment_intent_id is not None
    intent = await servers.payments.confirm_payment_intent(
        TRUSTED,
        payment_intent_id=order.payment_intent_id,
        payment_method="pm_card_visa",
        idempotency_key=f"direct-{order.order_id}",
    )
    assert intent.status == "succeeded"
    return order.order_id


async def test_reconcile_confirms_a_paid_order_exactly_once(servers: Servers) -> None:
    order_id = await paid_behind_our_back(servers)
    assert await servers.journey.reconcile(order_id) == "confirmed"
    assert await servers.journey.reconcile(order_id) == "confirmed"
    assert await servers.emails(order_id) == ["upgrade_confirmed"]
    assert (await servers.data.check_integrity()).ok


async def test_a_confirmation_whose_e_mail_failed_is_e_mailed_by_the_next_reconciling(
    servers: Servers,
) -> None:
    """Before, the order stayed confirmed without an e-mail: the webhook and a retried
    payment both found it confirmed and sent nothing."""
    journey = servers.journey
    order_id = await paid_behind_our_back(servers)
    mail_down = Journey(
        journey.tickets, journey.data, journey.payments, NotifyGateway(Unreachable())
    )
    with pytest.raises(RemoteUnavailable):
        await mail_down.reconcile(order_id)
    assert (await servers.data.get_order(order_id)).status == "confirmed"
    assert await servers.emails(order_id) == []
    assert await journey.reconcile(order_id) == "confirmed"
    assert await journey.reconcile(order_id) == "confirmed"
    elsewhere = Journey(journey.tickets, journey.data, journey.payments, journey.notify)
    assert await elsewhere.reconcile(order_id) == "confirmed"
    assert await servers.emails(order_id) == ["upgrade_confirmed"]


class Switchable:
    """A server's client that is down until switched back up."""

    def __init__(self, client: ToolCaller) -> None:
        self.client = client
        self.down = True

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.down:
            raise RemoteUnavailable(tool, "connection refused")
        return await self.client.call(tool, arguments)


async def test_a_payment_answered_while_mail_is_down_is_e_mailed_by_its_webhook(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    """The payer is answered once the order is confirmed; the e-mail queued after that failed,
    so this process has not settled the order and the webhook that follows sends it."""
    journey = servers.journey
    mail = Switchable(journey.notify.client)
    process = Journey(journey.tickets, journey.data, journey.payments, NotifyGateway(mail))
    order = await process.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "sel-mail-down")
    paid = await process.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-mail-down")
    assert (paid.payment_status, paid.order.status) == ("succeeded", "confirmed")
    await process.drain()
    assert f"e-mail of order {order.order_id} not queued (RemoteUnavailable)" in caplog.text
    assert await servers.emails(order.order_id) == []
    mail.down = False
    # What the payment webhook runs.
    assert await process.reconcile(order.order_id) == "confirmed"
    assert await process.reconcile(order.order_id) == "confirmed"
    assert await servers.emails(order.order_id) == ["upgrade_confirmed"]


class Held:
    """A server's client whose calls wait until released, and which names the calls it saw."""

    def __init__(self, client: ToolCaller) -> None:
        self.client = client
        self.release = asyncio.Event()
        self.release.set()
        self.arrived = asyncio.Event()
        self.seen: list[str] = []

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        self.seen.append(tool)
        self.arrived.set()
        await self.release.wait()
        return await self.client.call(tool, arguments)


async def test_a_webhook_during_the_payers_e_mail_waits_for_it_and_calls_nothing(
    servers: Servers,
) -> None:
    journey = servers.journey
    data, mail = Held(journey.data.client), Held(journey.notify.client)
    process = Journey(journey.tickets, DataGateway(data), journey.payments, NotifyGateway(mail))
    order = await process.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "sel-webhook-wait")
    mail.release.clear()
    paid = await process.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-webhook-wait")
    assert paid.order.status == "confirmed"
    data.seen.clear()
    # Arrives while the e-mail is being queued (held here): without waiting for it, it would
    # read the order and confirm it again.
    webhook = asyncio.create_task(process.reconcile(order.order_id))
    await mail.arrived.wait()
    mail.release.set()
    assert await webhook == "confirmed"
    assert data.seen == []
    assert mail.seen == ["send_email"]
    assert await servers.emails(order.order_id) == ["upgrade_confirmed"]


async def test_the_sweeper_expires_lapsed_holds_and_frees_their_seats(servers: Servers) -> None:
    order = await servers.journey.select_upgrade(JOHN, "TKT-JD0001", "standard", DAY, "sel-x001")
    servers.clock.now += timedelta(minutes=14)
    assert await servers.journey.sweep_holds() == 0
    servers.clock.now += timedelta(minutes=2)
    assert await servers.journey.sweep_holds() == 1
    assert (await servers.data.get_order(order.order_id)).status == "expired"
    assert order.payment_intent_id is not None
    intent = await servers.payments.get_payment_intent(TRUSTED, order.payment_intent_id)
    assert intent.status == "canceled"
    seats = await servers.data.get_date_inventory(DAY, DAY, "standard")
    assert seats.days[0].held == 0
    assert await servers.emails(order.order_id) == ["hold_expired"]
    assert await servers.journey.sweep_holds() == 0


async def test_the_sweeper_never_expires_an_order_that_was_paid(servers: Servers) -> None:
    order_id = await paid_behind_our_back(servers)
    servers.clock.now += timedelta(minutes=30)
    assert await servers.journey.sweep_holds() == 1
    assert (await servers.data.get_order(order_id)).status == "confirmed"
    assert await servers.emails(order_id) == ["upgrade_confirmed"]


async def test_a_signed_webhook_confirms_and_a_tampered_one_is_refused(servers: Servers) -> None:
    order_id = await paid_behind_our_back(servers)
    order = await servers.data.get_order(order_id)
    assert order.payment_intent_id is not None
    intent = await servers.payments.get_payment_intent(TRUSTED, order.payment_intent_id)
    body = json.dumps(
        {
            "id": "evt_test0001",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": intent.model_dump(mode="json")},
        }
    ).encode()
    webhook = PaymentEvents(servers.journey, SECRET)
    app = Starlette(routes=[Route(WEBHOOK_PATH, webhook.handle, methods=["POST"])])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ticket"
    ) as http:

        async def post(payload: bytes, header: str) -> httpx.Response:
            return await http.post(
                WEBHOOK_PATH,
                content=payload,
                headers={SIGNATURE_HEADER: header, "Content-Type": "application/json"},
            )

        signed = sign_webhook(body, SECRET, int(time.time()))
        tampered = await post(body.replace(b"succeeded", b"succeedes"), signed)
        assert tampered.status_code == 400
        assert (await servers.data.get_order(order_id)).status == "awaiting_payment"

        forged = await post(body, sign_webhook(body, "not-the-secret-at-all", int(time.time())))
        assert forged.status_code == 400

        first = await post(body, signed)
        assert first.status_code == 200
        assert (await servers.data.get_order(order_id)).status == "confirmed"
        again = await post(body, signed)
        assert again.json() == {"received": True, "duplicate": True}
    assert await servers.emails(order_id) == ["upgrade_confirmed"]


def event(object_: Any, *, event_id: str = "evt_test0002") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": object_},
        }
    ).encode()


async def post_signed(journey: Journey, body: bytes) -> httpx.Response:
    webhook = PaymentEvents(journey, SECRET)
    app = Starlette(routes=[Route(WEBHOOK_PATH, webhook.handle, methods=["POST"])])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ticket"
    ) as http:
        return await http.post(
            WEBHOOK_PATH,
            content=body,
            headers={
                SIGNATURE_HEADER: sign_webhook(body, SECRET, int(time.time())),
                "Content-Type": "application/json",
            },
        )


@pytest.mark.parametrize(
    "order_id",
    [new_id("ord"), "ord_x", "", 42, None, "x" * 300],
    ids=["unknown", "malformed", "empty", "number", "none", "long"],
)
async def test_a_signed_event_about_no_order_of_ours_is_acknowledged_and_ignored(
    servers: Servers, order_id: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Answered 500 before, so the payment server retried it ten times for nothing."""
    intent = {"id": new_id("pi"), "status": "succeeded", "metadata": {"order_id": order_id}}
    with caplog.at_level(logging.WARNING, logger="servers.ticket.webhooks"):
        answer = await post_signed(servers.journey, event(intent))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": True}
    assert "ignored" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"not json",
        event([]),
        event("pi_x"),
        json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"}).encode(),
        json.dumps({"id": 7, "type": "payment_intent.succeeded", "data": {}}).encode(),
    ],
    ids=["array", "not-json", "object-list", "object-string", "no-data", "id-not-text"],
)
async def test_a_signed_body_that_is_no_payment_event_is_a_400(
    servers: Servers, body: bytes
) -> None:
    answer = await post_signed(servers.journey, body)
    assert answer.status_code == 400, answer.text


class Unreachable:
    """A data server that cannot be reached: every call fails as the HTTP client's would."""

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        raise RemoteUnavailable(tool, "connection refused")


async def test_an_event_that_cannot_be_handled_now_is_a_503_to_retry(servers: Servers) -> None:
    journey = servers.journey
    down = DataGateway(Unreachable())
    cut_off = Journey(journey.tickets, down, journey.payments, journey.notify)
    intent = {"id": new_id("pi"), "status": "succeeded", "metadata": {"order_id": new_id("ord")}}
    answer = await post_signed(cut_off, event(intent, event_id="evt_test0003"))
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"].isdigit()
    again = await post_signed(journey, event(intent, event_id="evt_test0003"))
    assert again.status_code == 200, "not remembered as handled: the retry is handled"


# The REST edge's way in: the same handling as a tool call ---------------------------------------

EDGE = Principal("payment-edge", "payment-edge", frozenset({TICKETS_WEBHOOKS}))


def with_events(journey: Journey) -> KitMCP:
    """The ticket server with the REST edge's event tool."""
    return build_server(
        journey.tickets,
        journey,
        operator_client_ids=frozenset(),
        payment_events=PaymentEvents(journey, SECRET),
    )


async def hand_on(journey: Journey, principal: Principal, body: bytes, signature: str) -> Any:
    server = with_events(journey)
    with acting_as(principal):
        async with Client(server) as client:
            return await client.call_tool(
                EVENT_TOOL,
                {"event": body.decode(), "signature": signature},
                raise_on_error=False,
            )


async def test_the_edge_hands_on_a_signed_event_as_a_tool_call_and_it_confirms_once(
    servers: Servers,
) -> None:
    order_id = await paid_behind_our_back(servers)
    order = await servers.data.get_order(order_id)
    assert order.payment_intent_id is not None
    intent = await servers.payments.get_payment_intent(TRUSTED, order.payment_intent_id)
    body = event(intent.model_dump(mode="json"), event_id="evt_edge0001")
    signed = sign_webhook(body, SECRET, int(time.time()))

    forged = await hand_on(
        servers.journey, EDGE, body, sign_webhook(body, "not-the-secret-at-all", int(time.time()))
    )
    assert forged.is_error
    assert forged.content[0].text == "INVALID_WEBHOOK: invalid webhook"
    assert (await servers.data.get_order(order_id)).status == "awaiting_payment"

    first = await hand_on(servers.journey, EDGE, body, signed)
    assert not first.is_error, first.content
    assert first.structured_content == {
        "event_id": "evt_edge0001",
        "duplicate": False,
        "order_id": order_id,
        "order_status": "confirmed",
    }
    assert (await servers.data.get_order(order_id)).status == "confirmed"
    assert await servers.emails(order_id) == ["upgrade_confirmed"]


async def test_an_event_the_tool_cannot_handle_now_is_unavailable_to_send_again(
    servers: Servers,
) -> None:
    journey = servers.journey
    cut_off = Journey(journey.tickets, DataGateway(Unreachable()), journey.payments, journey.notify)
    intent = {"id": new_id("pi"), "status": "succeeded", "metadata": {"order_id": new_id("ord")}}
    body = event(intent, event_id="evt_edge0002")
    answer = await hand_on(cut_off, EDGE, body, sign_webhook(body, SECRET, int(time.time())))
    assert answer.is_error
    assert answer.content[0].text.startswith("UNAVAILABLE: "), answer.content


async def test_customers_are_never_shown_the_edges_tool(servers: Servers) -> None:
    """Listing only: calling it without the scope is refused at the HTTP layer (ScopeGate),
    which tests/http/test_ticket_edge_http.py checks with real tokens."""
    customer = Principal("web", JOHN.customer_id or "", frozenset(CUSTOMER_SCOPES))
    server = with_events(servers.journey)
    with acting_as(customer):
        async with Client(server) as client:
            assert EVENT_TOOL not in {t.name for t in await client.list_tools()}
    with acting_as(EDGE):
        async with Client(server) as client:
            assert {t.name for t in await client.list_tools()} == {EVENT_TOOL}
