"""Pure parts of what the customer and the model are shown: buttons read off tool answers,
tool outcomes in plain words, and secrets kept from the model."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from host import events
from host.choices import MAX_DATES, options_of

TIERS: dict[str, Any] = {
    "ticket_number": "TKT-AB12",
    "tiers": [
        {
            "tier": "standard",
            "name": "Standard",
            "available": True,
            "from_price_cents": 2250,
            "currency": "USD",
        },
        {
            "tier": "non_stop",
            "name": "Non-stop",
            "available": False,
            "from_price_cents": 4500,
            "currency": "USD",
        },
        {
            "tier": "double_fun",
            "name": "Double Fun",
            "available": True,
            "from_price_cents": 6750,
            "currency": "USD",
        },
    ],
}


def test_tiers_dates_and_tickets_become_buttons_of_what_can_be_picked() -> None:
    tiers = options_of(TIERS)
    assert tiers is not None
    assert tiers["kind"] == "tier"
    assert [(c["label"], c["value"]) for c in tiers["choices"]] == [
        ("Standard (22.50 USD)", "standard"),
        ("Double Fun (67.50 USD)", "double_fun"),
    ]
    days = [
        {
            "date": f"2027-01-{d:02d}",
            "available": d % 3 != 0,
            "price_cents": 2500,
            "currency": "USD",
        }
        for d in range(1, 31)
    ]
    dates = options_of({"tier": "standard", "days": days})
    assert dates is not None
    values = [c["value"] for c in dates["choices"]]
    assert len(values) == MAX_DATES
    assert values[:3] == ["2027-01-01", "2027-01-02", "2027-01-04"]
    tickets = options_of(
        {
            "tickets": [
                {
                    "ticket_number": "TKT-A1",
                    "ticket_type": "vip",
                    "visit_date": "2027-01-02",
                    "status": "active",
                },
                {
                    "ticket_number": "TKT-B2",
                    "ticket_type": "general",
                    "visit_date": "2026-01-02",
                    "status": "used",
                },
            ]
        }
    )
    assert tickets is not None
    assert [c["value"] for c in tickets["choices"]] == ["TKT-A1"]
    assert options_of({"order_id": "ord_x", "status": "confirmed"}) is None
    unavailable = {"tier": "non_stop", "name": "Non-stop", "available": False}
    assert options_of({"tiers": [unavailable]}) is None


def test_tool_outcomes_in_plain_words() -> None:
    order = {"status": "awaiting_payment", "hold_expires_at": "2027-01-02T09:45:10Z"}
    declined = events.for_customer(True, "{}", {"order": order, "payment_status": "declined"})
    assert "declined" in declined
    assert "09:45 UTC" in declined
    action = events.for_customer(True, "{}", {"order": order, "payment_status": "requires_action"})
    assert "approve" in action
    assert events.for_customer(True, "{}", {"ticket_number": "TKT-A1"}) == "done"
    assert events.for_customer(False, "TICKET_NOT_FOUND: no ticket TKT-Z") == (
        "I can't find that ticket."
    )
    assert events.for_customer(False, "ORDER_NOT_FOUND: no order ord_x") == (
        "I can't find that order."
    )
    malformed = "INVALID_ARGUMENT: ticket_number: String should match pattern '^[A-Z]+$'"
    assert events.for_customer(False, malformed) == "I can't find that ticket."
    assert events.is_ticket_reference_error(malformed)
    other = events.for_customer(False, "INVALID_ARGUMENT: date: not a date '^\\d+$'")
    assert "pattern" not in other
    assert "date:" not in other
    assert not events.is_ticket_reference_error("SOLD_OUT: no seats")
    # The host's own refusals, worded for the model, are reworded for the customer.
    asking = "CONFIRMATION_REQUIRED: the customer is being asked to confirm 'Hold ...'."
    assert "the customer" not in events.for_customer(False, asking)
    assert "tool" not in events.for_customer(False, "UNKNOWN_TOOL: there is no tool named 'x'")
    assert events.for_customer(False, "INTERNAL: boom (request id r-1)") == (
        "the service could not do this right now; try again in a moment"
    )


def test_payment_required_names_the_page_only_when_there_is_one() -> None:
    order = {
        "order_id": "ord_x",
        "amount_cents": 2500,
        "currency": "USD",
        "status": "awaiting_payment",
        "hold_expires_at": "2027-01-02T09:45:10Z",
    }
    held = events.payment_required(order)
    assert held is not None
    assert "checkout_url" not in held
    page = events.payment_required({"order": order, "checkout_url": "http://pay/checkout/cs_1"})
    assert page is not None
    assert page["checkout_url"] == "http://pay/checkout/cs_1"
    assert events.payment_required({"order": {**order, "status": "confirmed"}}) is None


secret_names = st.sampled_from(["client_secret", "password", "refresh_token", "webhookSecret"])


@given(name=secret_names, value=st.text(min_size=1, max_size=20), depth=st.integers(0, 3))
def test_secrets_never_reach_the_model(name: str, value: str, depth: int) -> None:
    answer: dict[str, object] = {name: value, "order_id": "ord_x"}
    for _ in range(depth):
        answer = {"order": answer, "items": [answer]}
    told = json.loads(events.for_model(True, "ignored", answer))
    assert name not in json.dumps(told)
    assert "ord_x" in json.dumps(told)
