"""The hand-off to a person over real HTTP: the whole stack as processes, a customer's token,
and the real SMTP sink, which must receive the support inbox's e-mail and the customer's
exactly once even though the customer's client retried the request."""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import anyio
import psycopg
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp_types import TextContent, TextResourceContents

from ticketing.mailsink import Received

pytestmark = pytest.mark.http

INBOX = "support@example.com"  # TICKET_SUPPORT_INBOX's default
MAIL_DEADLINE = 30.0

McpClient = Client[StreamableHttpTransport]


class ServerProcess(Protocol):
    """What this test uses of one server process (``tests/http/conftest.py``)."""

    @property
    def url(self) -> str: ...
    @property
    def log(self) -> Path: ...


class Base(Protocol):
    @property
    def data(self) -> ServerProcess: ...


class Mailbox(Protocol):
    def messages(self, to: str | None = None) -> list[Received]: ...


class FullStack(Protocol):
    """What this test uses of the ``full_stack`` fixture."""

    @property
    def base(self) -> Base: ...
    @property
    def ticket(self) -> ServerProcess: ...
    @property
    def mailbox(self) -> Mailbox: ...
    @property
    def database_url(self) -> str: ...
    def mcp_url(self, server: ServerProcess) -> str: ...
    def ops_token(self) -> str: ...
    def customer_token(self, customer_id: str) -> str: ...


def client(full: FullStack, server: ServerProcess, token: str) -> McpClient:
    return Client(StreamableHttpTransport(full.mcp_url(server), auth=token), timeout=60)


async def ok(mcp: McpClient, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await mcp.call_tool(tool, arguments, raise_on_error=False)
    text = " ".join(b.text for b in result.content if isinstance(b, TextContent))
    assert not result.is_error, f"{tool} failed: {text}"
    assert result.structured_content is not None
    return result.structured_content


def outstanding(full: FullStack, reference: str) -> int:
    """The case's e-mails the notify server still has to deliver (or retry)."""
    with psycopg.connect(full.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM notify.messages WHERE reference = %s"
            " AND status IN ('queued', 'sending', 'failed')",
            (reference,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def settled(full: FullStack, reference: str) -> list[Received]:
    """The sink's e-mails about the case once both arrived and nothing about it is left to
    send, so that a duplicate would have shown up by then."""
    deadline = time.monotonic() + MAIL_DEADLINE
    while True:
        received = [m for m in full.mailbox.messages() if reference in m.subject]
        if len(received) >= 2 and outstanding(full, reference) == 0:
            return received
        if time.monotonic() > deadline:
            return received
        await anyio.sleep(0.1)


async def test_asking_for_a_person_mails_the_inbox_and_the_customer_once(
    full_stack: FullStack,
) -> None:
    email = f"help-{uuid.uuid4().hex[:12]}@example.com"
    async with client(full_stack, full_stack.base.data, full_stack.ops_token()) as data:
        customer = await ok(
            data,
            "create_customer",
            email=email,
            full_name="Help Seeker",
            idempotency_key=f"customer-{uuid.uuid4().hex}",
        )
        ticket = await ok(
            data,
            "issue_ticket",
            customer_id=customer["customer_id"],
            ticket_type="general",
            visit_date=(date.today() + timedelta(days=20)).isoformat(),
            price_cents=4900,
            idempotency_key=f"ticket-{uuid.uuid4().hex}",
        )
    token = full_stack.customer_token(customer["customer_id"])
    request = {
        "summary": "My upgrade e-mail never arrived; can someone check?",
        "preferred_contact": "email",
        "ticket_number": ticket["ticket_number"],
        "idempotency_key": f"help-{uuid.uuid4().hex}",
    }
    async with client(full_stack, full_stack.ticket, token) as mcp:
        found = await ok(mcp, "search_help", query="how do refunds work")
        [policy] = await mcp.read_resource(found["results"][0]["uri"])
        # The client lost the first answer and retried with the same key.
        first = await ok(mcp, "request_human_help", **request)
        again = await ok(mcp, "request_human_help", **request)
    assert found["results"][0]["uri"] == "help://policies/refunds"
    assert isinstance(policy, TextResourceContents)
    assert policy.text.startswith("# Cancellations and refunds")
    assert again == first
    reference = first["reference"]

    received = await settled(full_stack, reference)
    assert sorted(m.to for m in received) == sorted([INBOX, email])
    to_customer = next(m for m in received if m.to == email)
    assert to_customer.subject.startswith(f"We have your request {reference}")
    to_inbox = next(m for m in received if m.to == INBOX)
    assert "Help Seeker" in to_inbox.subject

    async with client(full_stack, full_stack.base.data, full_stack.ops_token()) as data:
        listed = await ok(data, "list_support_cases", customer_id=customer["customer_id"])
        closed = await ok(
            data, "close_support_case", reference=reference, resolution="Resent the e-mail."
        )
    assert [c["reference"] for c in listed["cases"]] == [reference]
    assert listed["cases"][0]["ticket_number"] == ticket["ticket_number"]
    assert closed["status"] == "closed"
