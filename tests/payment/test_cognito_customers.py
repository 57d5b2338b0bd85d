"""A Cognito user at the payment server: the token's UUID subject resolves, through the real data
server (in process, on real PostgreSQL), to the customer id the ticket server knows, so the
cards saved with a Cognito token are that customer's; and a first sign-in while the data server
is down is a 503 with a stable code, not a 500, and is tried again on the next call."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastmcp import Client

from servers.core.auth import Principal, ResourceServerAuth, acting_as
from servers.core.client import ClientCredentials, HttpServiceClient, ServiceClient
from servers.core.db.postgres import PostgresDatabase
from servers.core.scopes import DATA_WRITE, PAYMENTS_READ, PAYMENTS_WRITE
from servers.core.subjects import CustomerSubjects, DataSignIns
from servers.data.server import build_server as build_data_server
from servers.data.service import DataService
from servers.payment.models import PaymentMethod, PaymentMethodList
from servers.payment.server import RESOURCE, build_server
from servers.payment.service import PaymentService
from tests.core.test_auth import BASE_URL, ISSUER, Jwks, claims_of, new_key, verifier
from ticketing.db import seed_all

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
PAYMENT_SERVER = Principal("payment-server")
SCOPES = f"{PAYMENTS_READ} {PAYMENTS_WRITE}"


@pytest.fixture
async def data(database_url: str) -> AsyncIterator[DataService]:
    db = await PostgresDatabase(database_url, max_size=5).open()
    await seed_all(db, NOW.date())
    try:
        yield DataService(db, clock=lambda: NOW)
    finally:
        await db.close()


@pytest.fixture
async def payments(database_url: str) -> AsyncIterator[PaymentService]:
    db = await PostgresDatabase(database_url, max_size=5).open()
    try:
        yield PaymentService(db, fingerprint_key=b"cognito-test-key")
    finally:
        await db.close()


@pytest.fixture
async def sign_ins(data: DataService) -> AsyncIterator[DataSignIns]:
    # The payment server's own client of the data server, as its __main__ builds it.
    async with ServiceClient(Client(build_data_server(data)), caller=PAYMENT_SERVER) as client:
        yield DataSignIns(client)


async def test_a_cognito_customers_cards_are_the_customer_the_ticket_server_knows(
    data: DataService, payments: PaymentService, sign_ins: DataSignIns
) -> None:
    john = await data.find_customer("john.doe@example.com")
    key = new_key()
    check = verifier(Jwks(key), resource=RESOURCE, subjects=CustomerSubjects(sign_ins))
    cognito_sub = str(uuid.uuid4())
    token = claims_of(
        key,
        sub=cognito_sub,
        client_id="web",
        scope=SCOPES,
        email="John.Doe@example.com",
        email_verified=True,
    )
    access = await check.verify_token(token)
    assert access is not None
    assert access.subject == john.customer_id

    server = build_server(payments)
    with acting_as(Principal("web", access.subject)):
        async with Client(server) as client:
            saved = await client.call_tool("create_payment_method", {"card_number": "pm_card_visa"})
    card = PaymentMethod.model_validate(saved.structured_content)
    # The same cards whether John comes with the dev provider's token (his customer id) or
    # Cognito's; none under Cognito's UUID.
    for subject, expected in ((john.customer_id, [card.payment_method_id]), (cognito_sub, [])):
        with acting_as(Principal("web", subject)):
            async with Client(server) as client:
                listed = await client.call_tool("list_payment_methods", {})
        methods = PaymentMethodList.model_validate(listed.structured_content).payment_methods
        assert [m.payment_method_id for m in methods] == expected, subject


async def test_a_first_sign_in_while_the_data_server_is_down_is_a_503_with_a_code(
    payments: PaymentService,
) -> None:
    key = new_key()
    # Nothing listens on port 9: the data server (and its issuer) cannot be reached.
    down = HttpServiceClient(
        "http://127.0.0.1:9/mcp",
        credentials=ClientCredentials(
            "http://127.0.0.1:9", "payment-server", "s" * 32, [DATA_WRITE]
        ),
        name="payment-server",
    )
    mcp = build_server(payments)
    mcp.auth = ResourceServerAuth(
        verifier=verifier(
            Jwks(key), resource=RESOURCE, subjects=CustomerSubjects(DataSignIns(down))
        ),
        protected_path="/mcp",
        resource_metadata_url=f"{BASE_URL}/.well-known/oauth-protected-resource/mcp",
        authorization_servers=[ISSUER],
        base_url=BASE_URL,
        scopes_supported=[PAYMENTS_READ, PAYMENTS_WRITE],
    )
    app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)
    token = claims_of(
        key,
        sub=str(uuid.uuid4()),
        client_id="web",
        scope=SCOPES,
        email="new.customer@example.com",
        email_verified=True,
        exp=int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
    )
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with (
        down,
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http,
    ):
        answers = [await http.post("/mcp", json=call, headers=headers) for _ in range(2)]
        metadata = await http.get("/.well-known/oauth-protected-resource/mcp", headers=headers)
    for answer in answers:
        assert answer.status_code == 503
        body = answer.json()
        assert body["error"] == "unavailable"
        assert body["error_description"].startswith("UNAVAILABLE: signing you in needs a service")
        assert "(request id " in body["error_description"]
        assert answer.headers["retry-after"] == "5"
        # The token is good: no challenge sending the client to sign in again.
        assert "www-authenticate" not in answer.headers
        for leak in ("127.0.0.1", "Traceback", "ClientConnectorError", "sign_in_customer"):
            assert leak not in answer.text
    # Discovery does not depend on the data server.
    assert metadata.status_code == 200
