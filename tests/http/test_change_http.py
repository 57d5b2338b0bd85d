"""Changing a confirmed upgrade with the whole stack as real processes over real HTTP: the
difference charged once to the same card, the ticket moved, one e-mail through SMTP."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest

from tests.http.test_ticket_http import (
    FullStack,
    client,
    error,
    key,
    new_customer,
    ok,
    pay,
    select,
    settled_mail,
    subjects,
)

pytestmark = pytest.mark.http


async def test_a_change_of_date_and_tier_charges_the_difference_once_and_mails_once(
    full_stack: FullStack,
) -> None:
    customer, email, number = await new_customer(full_stack)
    token = full_stack.customer_token(customer)
    order = await select(full_stack, token, number, tier="standard")
    new_day = (date.fromisoformat(order["visit_date"]) + timedelta(days=7)).isoformat()
    # A saved card, as the web app's card form makes it: the difference is charged to it.
    async with client(full_stack, full_stack.payment, token) as payment:
        card = await ok(
            payment,
            "create_payment_method",
            card_number="4242424242424242",
            exp_month=12,
            exp_year=2040,
            cvc="123",
        )
    async with client(full_stack, full_stack.ticket, token) as ticket:
        paid = await pay(ticket, order["order_id"], card["payment_method_id"])
        assert paid["payment_status"] == "succeeded", paid
        quote = await ok(
            ticket, "quote_change", order_id=order["order_id"], date=new_day, tier="double_fun"
        )
        assert quote["paid_cents"] == order["amount_cents"]
        assert quote["charge_cents"] == quote["new_price_cents"] - order["amount_cents"] > 0
        changing = {
            "order_id": order["order_id"],
            "date": new_day,
            "tier": "double_fun",
            "idempotency_key": key("change"),
        }
        changed = await ok(ticket, "change_upgrade", **changing)
        assert changed["status"] == "changed", changed
        assert changed["charged_cents"] == quote["charge_cents"]
        assert await ok(ticket, "change_upgrade", **changing) == changed
        moved = await ok(ticket, "get_ticket", ticket_number=number)
        assert (moved["upgrade_tier"], moved["visit_date"]) == ("double_fun", new_day)
        reused = await error(ticket, "change_upgrade", **{**changing, "tier": "non_stop"})
        assert reused.startswith("IDEMPOTENCY_MISMATCH: this idempotency_key was used")

    with psycopg.connect(full_stack.database_url) as conn:
        rows = conn.execute(
            "SELECT amount_received_cents, payment_method_id FROM payment.payment_intents"
            " WHERE metadata->>'order_id' = %s AND status = 'succeeded' ORDER BY created_at",
            (order["order_id"],),
        ).fetchall()
    assert [r[0] for r in rows] == [order["amount_cents"], quote["charge_cents"]]
    assert rows[0][1] == rows[1][1], "the difference went to the card that paid the upgrade"

    received = await settled_mail(full_stack, email, 2)
    assert len(received) == 2, subjects(received)
    assert sum("Your upgrade is now Double Fun" in r.subject for r in received) == 1
