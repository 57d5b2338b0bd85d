"""The payment server as a real process over real HTTP: OAuth and scopes, a customer paying
their own intent and nobody else's, and crash safety — kill -9 in the middle of confirms under
load, restart, and every intent is consistent with no card charged twice."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Protocol

import httpx
import pytest

from servers.core.db.postgres import PostgresDatabase
from servers.core.scopes import CUSTOMER_SCOPES
from servers.core.webhooks import SIGNATURE_HEADER, verify_webhook

pytestmark = pytest.mark.http

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
WEBHOOK_SECRET = "whsec_http_test_0123456789"
ALICE = "cus_" + "a" * 26
BOB = "cus_" + "b" * 26


class HttpStack(Protocol):
    """What these tests use of the ``http_stack`` fixture (``tests/http/conftest.py``)."""

    @property
    def database_url(self) -> str: ...
    @property
    def workdir(self) -> Path: ...
    def token(
        self, scopes: Iterable[str] = ..., *, client_id: str = ..., sub: str | None = ...
    ) -> str: ...
    def ops_token(self) -> str: ...


class Process(Protocol):
    """What these tests use of the ``payment_server`` fixture."""

    @property
    def url(self) -> str: ...
    @property
    def log(self) -> Path: ...
    @property
    def proc(self) -> subprocess.Popen[bytes] | None: ...
    def start(self) -> None: ...


class Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint that refuses its first two deliveries, then keeps what it gets."""

    requests: ClassVar[list[tuple[bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append((body, self.headers[SIGNATURE_HEADER]))
        self.send_response(500 if len(self.requests) <= 2 else 204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def payment_env(receiver: str) -> dict[str, str]:
    """Webhooks to the receiver, retried after 0.2 s, 0.4 s, ..."""
    return {
        "PAYMENT_WEBHOOK_URLS": receiver,
        "PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PAYMENT_WEBHOOK_BASE_DELAY_SECONDS": "0.2",
    }


def key() -> str:
    return f"http-{uuid.uuid4().hex}"


def customer_token(stack: HttpStack, customer: str) -> str:
    return stack.token(CUSTOMER_SCOPES, client_id="web", sub=customer)


async def call(
    http: httpx.AsyncClient, server: Process, token: str | None, tool: str, **arguments: Any
) -> httpx.Response:
    headers = dict(MCP_HEADERS)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    return await http.post(f"{server.url}/mcp", json=body, headers=headers)


async def result_of(
    http: httpx.AsyncClient, server: Process, token: str, tool: str, **arguments: Any
) -> tuple[bool, Any]:
    """(is_error, structured content or error text) of a call answered with HTTP 200."""
    response = await call(http, server, token, tool, **arguments)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    if result.get("isError"):
        return True, result["content"][0]["text"]
    return False, result["structuredContent"]


async def test_no_token_is_challenged_and_refunds_need_their_scope(
    http_stack: HttpStack, payment_server: Process
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        anonymous = await call(http, payment_server, None, "list_events")
        assert anonymous.status_code == 401
        assert "resource_metadata=" in anonymous.headers["www-authenticate"]
        customer = customer_token(http_stack, ALICE)
        refund = await call(
            http,
            payment_server,
            customer,
            "create_refund",
            payment_intent_id="pi_" + "a" * 26,
            reason="duplicate",
            idempotency_key=key(),
        )
        assert refund.status_code == 403
        assert 'error="insufficient_scope"' in refund.headers["www-authenticate"]


async def test_a_customer_pays_their_own_intent_and_nobody_elses(
    http_stack: HttpStack, payment_server: Process
) -> None:
    ops, alice, bob = (
        http_stack.ops_token(),
        customer_token(http_stack, ALICE),
        customer_token(http_stack, BOB),
    )
    async with httpx.AsyncClient(timeout=30) as http:
        failed, intent = await result_of(
            http,
            payment_server,
            ops,
            "create_payment_intent",
            amount_cents=2500,
            currency="USD",
            customer_ref=ALICE,
            idempotency_key=key(),
        )
        assert not failed, intent
        failed, text = await result_of(
            http, payment_server, bob, "get_payment_intent", payment_intent_id=intent["id"]
        )
        assert failed
        assert text == f"PAYMENT_INTENT_NOT_FOUND: no payment intent {intent['id']}"
        failed, method = await result_of(
            http,
            payment_server,
            alice,
            "create_payment_method",
            card_number="4242 4242 4242 4242",
            exp_month=12,
            exp_year=2035,
            cvc="123",
        )
        assert not failed, method
        failed, paid = await result_of(
            http,
            payment_server,
            alice,
            "confirm_payment_intent",
            payment_intent_id=intent["id"],
            payment_method=method["payment_method_id"],
            idempotency_key=key(),
        )
        assert not failed, paid
        assert paid["status"] == "succeeded"
    logged = payment_server.log.read_text()
    assert "4242424242424242" not in logged
    assert "4242 4242 4242 4242" not in logged

    deadline = time.monotonic() + 30
    while len(Receiver.requests) < 3:
        assert time.monotonic() < deadline, f"webhook not retried: {Receiver.requests}"
        await asyncio.sleep(0.1)
    bodies = {body for body, _ in Receiver.requests}
    assert len(bodies) == 1, "the same event, three times"
    body, header = Receiver.requests[2]
    verify_webhook(body, header, WEBHOOK_SECRET)
    event = json.loads(body)
    assert event["type"] == "payment_intent.succeeded"
    assert event["data"]["object"]["id"] == intent["id"]
    await asyncio.sleep(1.0)
    assert len(Receiver.requests) == 3, "acknowledged on the third try: not sent again"


async def consistency(database_url: str) -> dict[str, Any]:
    db = await PostgresDatabase(database_url, max_size=1).open()
    try:
        async with db.transaction() as tx:
            bad = await tx.fetch_all(
                "SELECT i.payment_intent_id, i.status, "
                " count(c.*) FILTER (WHERE c.status = 'succeeded') AS charged "
                "FROM payment.payment_intents i "
                "LEFT JOIN payment.charges c USING (payment_intent_id) "
                "WHERE i.description = 'crash test' GROUP BY i.payment_intent_id, i.status "
                "HAVING NOT ((i.status = 'succeeded' AND count(c.*) FILTER "
                "  (WHERE c.status = 'succeeded') = 1) OR (i.status = 'requires_payment_method' "
                "  AND count(c.*) = 0))"
            )
            summary = await tx.fetch_one(
                "SELECT count(*) FILTER (WHERE status = 'succeeded') AS succeeded, "
                " count(*) AS total FROM payment.payment_intents WHERE description = 'crash test'"
            )
            unfinished = await tx.fetch_one(
                "SELECT count(*) AS n FROM payment.idempotency_keys WHERE response IS NULL"
            )
    finally:
        await db.close()
    assert summary is not None
    assert unfinished is not None
    return {"bad": bad, **summary, "unfinished_keys": unfinished["n"]}


async def test_kill_9_mid_confirms_then_restart_leaves_every_intent_consistent(
    http_stack: HttpStack, payment_server: Process
) -> None:
    ops = http_stack.ops_token()
    intents: list[tuple[str, str]] = []
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(80):
            failed, intent = await result_of(
                http,
                payment_server,
                ops,
                "create_payment_intent",
                amount_cents=1000,
                currency="USD",
                description="crash test",
                idempotency_key=key(),
            )
            assert not failed, intent
            intents.append((intent["id"], key()))

        async def confirm(intent_id: str, confirm_key: str) -> bool:
            try:
                failed, _ = await result_of(
                    http,
                    payment_server,
                    ops,
                    "confirm_payment_intent",
                    payment_intent_id=intent_id,
                    payment_method="pm_card_visa",
                    idempotency_key=confirm_key,
                )
            except (httpx.HTTPError, AssertionError):
                return False
            return not failed

        limit = asyncio.Semaphore(16)
        finished: list[bool] = []
        twenty_done = asyncio.Event()

        async def limited(intent_id: str, confirm_key: str) -> bool:
            async with limit:
                outcome = await confirm(intent_id, confirm_key)
            finished.append(outcome)
            if len(finished) >= 20:
                twenty_done.set()
            return outcome

        load = [asyncio.create_task(limited(i, k)) for i, k in intents]
        await twenty_done.wait()
        assert payment_server.proc is not None
        payment_server.proc.kill()
        payment_server.proc.wait()
        answered = await asyncio.gather(*load)
        assert 0 < sum(answered) < len(intents), "the kill should land mid-load"

        after_crash = await consistency(http_stack.database_url)
        assert after_crash["bad"] == []
        assert after_crash["unfinished_keys"] == 0

        payment_server.start()
        deadline = time.monotonic() + 60
        while True:
            try:
                if (await http.get(f"{payment_server.url}/health")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the payment server did not come back"
            await asyncio.sleep(0.1)

        retried = await asyncio.gather(*(limited(i, k) for i, k in intents))
        assert all(retried)
    final = await consistency(http_stack.database_url)
    assert final == {"bad": [], "succeeded": 80, "total": 80, "unfinished_keys": 0}


async def test_any_client_of_the_issuer_pays_but_only_services_refund(
    http_stack: HttpStack, payment_server: Process
) -> None:
    # A client registered at run time (not in any server's list) with a customer's scopes and,
    # wrongly granted by the issuer, a service-only one: it may pay, it may not refund.
    assistant = http_stack.token(
        ["payments/read", "payments/write", "payments/refund"],
        client_id="desktop-assistant-7f3a",
        sub=ALICE,
    )
    async with httpx.AsyncClient(timeout=30) as http:
        failed, method = await result_of(
            http, payment_server, assistant, "create_payment_method", card_number="pm_card_visa"
        )
        assert not failed, method
        refund = await call(
            http,
            payment_server,
            assistant,
            "create_refund",
            payment_intent_id="pi_" + "a" * 26,
            reason="duplicate",
            idempotency_key=key(),
        )
    assert refund.status_code == 403
    assert 'scope="payments/refund"' in refund.headers["www-authenticate"]
