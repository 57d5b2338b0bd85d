"""Self-healing: the payment webhook and the hold sweeper bring orders in line with payments."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from servers.core.webhooks import SIGNATURE_HEADER, sign_webhook
from servers.payment.service import TRUSTED
from servers.ticket.webhooks import WEBHOOK_PATH, PaymentWebhook

from .conftest import Servers
from .support import JOHN

DAY = date(2027, 1, 14)  # a Thursday in January: standard band
SECRET = "whsec_test_0123456789abcdef"


async def templates(servers: Servers, order_id: str) -> list[str]:
    found = await servers.notify.list_messages(reference=order_id)
    return sorted(m.template for m in found.messages)


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
    assert await templates(servers, order_id) == ["upgrade_confirmed"]
    assert (await servers.data.check_integrity()).ok


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
    assert await templates(servers, order.order_id) == ["hold_expired"]
    assert await servers.journey.sweep_holds() == 0


async def test_the_sweeper_never_expires_an_order_that_was_paid(servers: Servers) -> None:
    order_id = await paid_behind_our_back(servers)
    servers.clock.now += timedelta(minutes=30)
    assert await servers.journey.sweep_holds() == 1
    assert (await servers.data.get_order(order_id)).status == "confirmed"
    assert await templates(servers, order_id) == ["upgrade_confirmed"]


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
    webhook = PaymentWebhook(servers.journey, SECRET)
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
    assert await templates(servers, order_id) == ["upgrade_confirmed"]
