"""The payment server as MCP clients see it: every tool in memory, as a service and as
customers (tokens put where FastMCP's dependency reads them), ownership and isolation, declines
as results, and no card number or CVC in the logs or the database."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import mcp_types
import pytest
from fastmcp import Client
from fastmcp.client.client import CallToolResult
from fastmcp.client.transports import FastMCPTransport
from pydantic import BaseModel

from servers.core.auth import Principal
from servers.core.auth import acting_as as act
from servers.core.db import Database
from servers.payment.models import (
    CheckoutSession,
    Event,
    EventList,
    PaymentIntent,
    PaymentMethod,
    PaymentMethodList,
    Refund,
)
from servers.payment.server import build_server
from servers.payment.service import PaymentService
from ticketing.pg import find_pg_bin

MCPClient = Client[FastMCPTransport]

READ_TOOLS = {"get_payment_intent", "list_events", "get_event", "list_payment_methods"}
WRITE_TOOLS = {
    "create_payment_method",
    "detach_payment_method",
    "create_checkout_session",
    "create_payment_intent",
    "confirm_payment_intent",
    "cancel_payment_intent",
    "create_refund",
}
CODE = re.compile(r"^[A-Z][A-Z_]+: \S")
ALICE = "cus_" + "a" * 26
BOB = "cus_" + "b" * 26
CARD = "4000056655665556"
CVC = "987"
RECORD_NUMBERS = {"created", "msecs", "relativeCreated", "thread", "process", "lineno"}


def key() -> str:
    return f"mcp-{uuid.uuid4().hex}"


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent), block
    return block.text


async def ok(client: MCPClient, tool: str, model: type[BaseModel], **args: Any) -> Any:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict)
    assert json.loads(text_of(result)) == result.structured_content
    return model.model_validate(result.structured_content)


async def error(client: MCPClient, tool: str, **args: Any) -> str:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    text = text_of(result)
    assert CODE.match(text), text
    assert "Traceback" not in text
    return text


@pytest.fixture
def service(db: Database) -> PaymentService:
    return PaymentService(db, fingerprint_key=b"mcp-test-key")


def acting_as(subject: str | None = None, client_id: str = "web") -> AbstractContextManager[Any]:
    """Calls made inside are a customer's (``subject``) or, without one, a service's."""
    return act(Principal(client_id, subject or client_id))


@pytest.fixture
async def client(service: PaymentService) -> AsyncIterator[MCPClient]:
    with act(Principal("ticket-server")):
        async with Client(build_server(service)) as c:
            yield c


async def intent_for(client: MCPClient, customer: str | None, amount: int = 2500) -> PaymentIntent:
    args: dict[str, Any] = {"amount_cents": amount, "currency": "USD", "idempotency_key": key()}
    if customer:
        args["customer_ref"] = customer
    result: PaymentIntent = await ok(client, "create_payment_intent", PaymentIntent, **args)
    return result


async def test_tools_are_described_and_annotated_honestly(client: MCPClient) -> None:
    tools = {t.name: t for t in await client.list_tools()}
    assert set(tools) == READ_TOOLS | WRITE_TOOLS
    for name, tool in tools.items():
        assert tool.description, name
        assert len(tool.description) > 15, name
        schema = tool.input_schema
        assert schema.get("additionalProperties") is False, name
        for param, spec in schema.get("properties", {}).items():
            assert spec.get("description"), f"{name}.{param}"
        hints = tool.annotations
        assert hints is not None
        assert hints.read_only_hint is (name in READ_TOOLS), name
        assert hints.idempotent_hint is (name != "create_payment_method"), name
        assert hints.open_world_hint is False, name
        scopes = (tool.meta or {}).get("scopes")
        expected = (
            ["payments/read"]
            if name in READ_TOOLS
            else ["payments/refund"]
            if name == "create_refund"
            else ["payments/write"]
        )
        assert scopes == expected, name


async def test_every_tool_as_a_service(client: MCPClient) -> None:
    method = await ok(
        client,
        "create_payment_method",
        PaymentMethod,
        card_number="4242424242424242",
        exp_month=12,
        exp_year=2035,
        cvc="123",
    )
    intent = await intent_for(client, None, 1999)
    assert intent.status == "requires_payment_method"
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    paid = await ok(
        client,
        "confirm_payment_intent",
        PaymentIntent,
        payment_intent_id=intent.id,
        payment_method=method.payment_method_id,
        idempotency_key=key(),
    )
    assert paid.status == "succeeded"
    got = await ok(client, "get_payment_intent", PaymentIntent, payment_intent_id=intent.id)
    assert got == paid
    refund = await ok(
        client,
        "create_refund",
        Refund,
        payment_intent_id=intent.id,
        amount_cents=500,
        reason="requested_by_customer",
        idempotency_key=key(),
    )
    assert refund.amount_cents == 500
    text = await error(
        client,
        "create_refund",
        payment_intent_id=intent.id,
        amount_cents=1500,
        reason="requested_by_customer",
        idempotency_key=key(),
    )
    assert text.startswith("REFUND_EXCEEDS_CHARGE: ")
    other = await intent_for(client, None)
    canceled = await ok(
        client,
        "cancel_payment_intent",
        PaymentIntent,
        payment_intent_id=other.id,
        idempotency_key=key(),
    )
    assert canceled.status == "canceled"
    events = await ok(client, "list_events", EventList)
    assert [e.type for e in events.events] == [
        "payment_intent.succeeded",
        "charge.refunded",
        "payment_intent.canceled",
    ]
    first = await ok(client, "get_event", Event, event_id=events.events[0].id)
    assert first.data["object"]["id"] == intent.id
    assert (await error(client, "get_event", event_id="evt_" + "a" * 26)).startswith(
        "EVENT_NOT_FOUND: "
    )


async def test_a_decline_is_a_result_not_an_error(client: MCPClient) -> None:
    intent = await intent_for(client, None)
    result = await client.call_tool(
        "confirm_payment_intent",
        {
            "payment_intent_id": intent.id,
            "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
            "idempotency_key": key(),
        },
    )
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["status"] == "requires_payment_method"
    error_ = result.structured_content["last_payment_error"]
    assert (error_["code"], error_["decline_code"]) == ("card_declined", "insufficient_funds")


async def test_bad_arguments_and_bad_cards_are_coded_errors(client: MCPClient) -> None:
    assert (
        await error(
            client,
            "create_payment_method",
            card_number="4242424242424241",
            exp_month=12,
            exp_year=2035,
            cvc="123",
        )
    ).startswith("INCORRECT_NUMBER: ")
    assert (
        await error(
            client, "create_payment_intent", amount_cents=1.5, currency="USD", idempotency_key=key()
        )
    ).startswith("INVALID_ARGUMENT: ")
    assert (
        await error(
            client, "create_payment_intent", amount_cents=0, currency="USD", idempotency_key=key()
        )
    ).startswith("INVALID_AMOUNT: ")
    assert (await error(client, "get_payment_intent", payment_intent_id="pi_nope")).startswith(
        "INVALID_ARGUMENT: "
    )


async def test_customers_see_and_pay_only_their_own(client: MCPClient) -> None:
    with acting_as(client_id="ticket-server"):
        alices = await intent_for(client, ALICE)
    with acting_as(ALICE):
        refused = await error(
            client, "create_payment_intent", amount_cents=100, currency="USD", idempotency_key=key()
        )
        assert refused.startswith("PERMISSION_DENIED: ")
    with acting_as(BOB):
        bobs_card = await ok(
            client, "create_payment_method", PaymentMethod, card_number="pm_card_visa"
        )
        missing = "pi_" + "z" * 26
        for target in (alices.id, missing):
            seen = await error(client, "get_payment_intent", payment_intent_id=target)
            assert seen == f"PAYMENT_INTENT_NOT_FOUND: no payment intent {target}"
            tried = await error(
                client,
                "confirm_payment_intent",
                payment_intent_id=target,
                payment_method="pm_card_visa",
                idempotency_key=key(),
            )
            assert tried.startswith("PAYMENT_INTENT_NOT_FOUND: ")
    with acting_as(ALICE):
        with_bobs_card = await error(
            client,
            "confirm_payment_intent",
            payment_intent_id=alices.id,
            payment_method=bobs_card.payment_method_id,
            idempotency_key=key(),
        )
        assert with_bobs_card.startswith("PAYMENT_METHOD_NOT_FOUND: ")
        paid = await ok(
            client,
            "confirm_payment_intent",
            PaymentIntent,
            payment_intent_id=alices.id,
            payment_method="pm_card_visa",
            idempotency_key=key(),
        )
        assert paid.status == "succeeded"
        events = (await ok(client, "list_events", EventList)).events
        assert [e.payment_intent_id for e in events] == [alices.id]
    with acting_as(BOB):
        assert (await ok(client, "list_events", EventList)).events == []
        assert (await error(client, "get_event", event_id=events[0].id)).startswith(
            "EVENT_NOT_FOUND: "
        )


async def test_saved_cards_are_listed_and_detached_by_their_owner_only(
    client: MCPClient,
) -> None:
    with acting_as(ALICE):
        card = await ok(
            client,
            "create_payment_method",
            PaymentMethod,
            card_number="5555 5555 5555 4444",
            exp_month=3,
            exp_year=2036,
            cvc="321",
        )
        assert (card.brand, card.last4, card.detached_at) == ("mastercard", "4444", None)
    with acting_as(client_id="ticket-server"):
        alices = await intent_for(client, ALICE)
        refused = await error(client, "list_payment_methods")
        assert refused.startswith("PERMISSION_DENIED: ")
    with acting_as(ALICE):
        paid = await ok(
            client,
            "confirm_payment_intent",
            PaymentIntent,
            payment_intent_id=alices.id,
            payment_method="pm_card_visa",
            idempotency_key=key(),
        )
        assert paid.status == "succeeded"
        listed = await ok(client, "list_payment_methods", PaymentMethodList)
        assert listed.payment_methods == [card], "a test token is not saved"
    missing = "pm_" + "z" * 26
    with acting_as(BOB):
        assert (await ok(client, "list_payment_methods", PaymentMethodList)).payment_methods == []
        for target in (card.payment_method_id, missing):
            seen = await error(client, "detach_payment_method", payment_method_id=target)
            assert seen == f"PAYMENT_METHOD_NOT_FOUND: no payment method {target}"
    with acting_as(ALICE):
        detached = await ok(
            client, "detach_payment_method", PaymentMethod, payment_method_id=card.payment_method_id
        )
        assert detached.detached_at is not None
        again = await ok(
            client, "detach_payment_method", PaymentMethod, payment_method_id=card.payment_method_id
        )
        assert again == detached, "detaching twice answers the same"
        assert (await ok(client, "list_payment_methods", PaymentMethodList)).payment_methods == []
    with acting_as(client_id="ticket-server"):
        later = await intent_for(client, ALICE)
    with acting_as(ALICE):
        with_detached = await error(
            client,
            "confirm_payment_intent",
            payment_intent_id=later.id,
            payment_method=card.payment_method_id,
            idempotency_key=key(),
        )
        assert with_detached.startswith("PAYMENT_METHOD_NOT_FOUND: ")


async def test_a_service_opens_a_checkout_page_for_an_intent(client: MCPClient) -> None:
    intent = await intent_for(client, ALICE, 4250)
    expires = (datetime.now(UTC) + timedelta(minutes=15)).isoformat()
    args = {"payment_intent_id": intent.id, "expires_at": expires, "idempotency_key": key()}
    page = await ok(client, "create_checkout_session", CheckoutSession, **args)
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/checkout/cs_[a-z2-7]{26}", page.url)
    assert (page.status, page.amount_cents, page.customer_ref) == ("open", 4250, ALICE)
    assert await ok(client, "create_checkout_session", CheckoutSession, **args) == page
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    too_late = await error(client, "create_checkout_session", **{**args, "expires_at": past})
    assert too_late.startswith("INVALID_EXPIRY: ")
    naive = await error(
        client, "create_checkout_session", **{**args, "expires_at": "2030-01-01T10:00:00"}
    )
    assert naive.startswith("INVALID_ARGUMENT: ")
    script = await error(
        client, "create_checkout_session", **args, success_url="javascript:alert(1)"
    )
    assert script.startswith("INVALID_ARGUMENT: ")
    with acting_as(ALICE):
        refused = await error(
            client, "create_checkout_session", **{**args, "idempotency_key": key()}
        )
        assert refused.startswith("PERMISSION_DENIED: ")
    await ok(
        client,
        "cancel_payment_intent",
        PaymentIntent,
        payment_intent_id=intent.id,
        idempotency_key=key(),
    )
    closed = await error(client, "create_checkout_session", **{**args, "idempotency_key": key()})
    assert closed.startswith("INVALID_STATE: ")


async def test_no_card_number_or_cvc_in_logs_or_database(
    client: MCPClient, database_url: str, db_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    if db_backend != "postgres":
        pytest.skip("one dump is enough")
    caplog.set_level(logging.DEBUG)
    method = await ok(
        client,
        "create_payment_method",
        PaymentMethod,
        card_number=CARD,
        exp_month=11,
        exp_year=2035,
        cvc=CVC,
    )
    for number, cvc in [(CARD[:-1] + "0", CVC), (CARD, "98")]:
        await error(
            client,
            "create_payment_method",
            card_number=number,
            exp_month=11,
            exp_year=2035,
            cvc=cvc,
        )
    intent = await intent_for(client, None)
    await ok(
        client,
        "confirm_payment_intent",
        PaymentIntent,
        payment_intent_id=intent.id,
        payment_method=method.payment_method_id,
        idempotency_key=key(),
    )
    # Every field of every record (extras included), but not the clock's and the process's
    # numbers, which hold any three digits by chance (msecs 987.4 is not the CVC).
    logs = caplog.text + "".join(
        str({k: v for k, v in r.__dict__.items() if k not in RECORD_NUMBERS})
        for r in caplog.records
    )
    pg_dump = await asyncio.create_subprocess_exec(
        str(find_pg_bin() / "pg_dump"), "--data-only", database_url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await pg_dump.communicate()
    assert pg_dump.returncode == 0
    dump = out.decode()
    assert method.last4 in dump
    for secret in (CARD, CARD[:-1] + "0", "4000 0566 5566 5556"):
        assert secret not in logs
        assert secret not in dump
    assert not re.search(rf"\b{CVC}\b", dump)
    assert not re.search(rf"\b{CVC}\b", logs)


async def test_a_call_without_a_caller_is_refused_not_trusted(service: PaymentService) -> None:
    # Before: no token meant a trusted service, which may create intents for anyone.
    async with Client(build_server(service)) as anonymous:
        result = await anonymous.call_tool(
            "create_payment_intent",
            {"amount_cents": 100, "currency": "USD", "idempotency_key": key()},
            raise_on_error=False,
        )
    assert result.is_error
    assert text_of(result) == "NOT_ALLOWED: this call carries no access token"
