"""The whole OAuth dance of a desktop assistant that knows only the ticket server's URL, with the
MCP Python SDK's ``OAuthClientProvider`` and FastMCP's ``OAuth`` helper, against every server as
a real process: 401 → protected-resource metadata → authorization-server metadata → dynamic
registration → the login form (with its CSRF token) → code + PKCE → tools listed and called →
refresh after expiry → a revoked refresh token refused. And a client identified by a metadata
document instead of a registration.

The "browser" is an HTTP client with a cookie jar that opens the authorization URL and posts
the form as john.doe would; the callback's query is handed to the SDK as its callback server
would. The identity provider is restarted with one-minute access tokens for this module.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
import uvicorn
from fastmcp import Client
from fastmcp.client.auth import OAuth
from fastmcp.client.transports import StreamableHttpTransport
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from mcp_types import TextContent
from pydantic import AnyUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

pytestmark = pytest.mark.http

JOHN_EMAIL = "john.doe@example.com"
JOHN_TICKETS = {"TKT-JD0001", "TKT-JD0002", "TKT-JD0003", "TKT-JD0004"}
PASSWORD = "Passw0rd!"
ACCESS_TOKEN_TTL = 20  # the clients wait this long for expiry (the provider allows 10)
EXPIRY_DEADLINE = ACCESS_TOKEN_TTL + 60.0
STARTUP_DEADLINE = 60.0
CUSTOMER_SCOPE = "tickets/read tickets/write payments/read payments/write"

McpClient = Client[StreamableHttpTransport]


class ServerProcess(Protocol):
    """What these tests use of one server process (``tests/http/conftest.py``)."""

    env: Mapping[str, str]

    @property
    def url(self) -> str: ...
    def stop(self) -> set[int]: ...
    def start(self) -> None: ...


class Base(Protocol):
    @property
    def idp(self) -> ServerProcess: ...


class FullStack(Protocol):
    @property
    def base(self) -> Base: ...
    @property
    def ticket(self) -> ServerProcess: ...


@pytest.fixture(scope="module")
def stack(full_stack: FullStack) -> Iterator[FullStack]:
    """The full stack, its identity provider restarted to mint 20-second access tokens (so a
    client meets an expired token without the test faking the clock); restarted as it was
    afterwards, since the stack serves the worker's later modules too."""
    idp = full_stack.base.idp
    before = idp.env
    restart(idp, {**before, "IDP_TOKEN_TTL_SECONDS": str(ACCESS_TOKEN_TTL)})
    yield full_stack
    restart(idp, before)


def restart(idp: ServerProcess, env: Mapping[str, str]) -> None:
    idp.stop()
    idp.env = env
    idp.start()
    deadline = time.monotonic() + STARTUP_DEADLINE
    with httpx.Client(timeout=2.0) as http:
        while True:
            try:
                if http.get(f"{idp.url}/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the identity provider did not come back"
            time.sleep(0.1)


def ticket_mcp_url(stack: FullStack) -> str:
    return f"{stack.ticket.url}/mcp"


class Browser:
    """Stands in for the user's browser: opens the authorization URL, signs in as john.doe on
    the provider's form (CSRF token and cookie included), and keeps where it was sent back."""

    def __init__(self) -> None:
        self.callbacks: list[str] = []
        self.consent_pages: list[str] = []

    async def open(self, authorization_url: str) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            page = await http.get(authorization_url)
            assert page.status_code == 200, page.text
            self.consent_pages.append(page.text)
            form = {**hidden_fields(page.text), "email": JOHN_EMAIL, "password": PASSWORD}
            action = authorization_url.split("?", 1)[0]
            posted = await http.post(action, data=form)
            assert posted.status_code == 303, posted.text
            self.callbacks.append(posted.headers["location"])

    async def callback(self) -> AuthorizationCodeResult:
        """What the client's loopback callback server would have received."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.callbacks[-1]).query).items()}
        return AuthorizationCodeResult(
            code=query["code"], state=query.get("state"), iss=query.get("iss")
        )


def hidden_fields(page: str) -> dict[str, str]:
    """The form's hidden inputs, unescaped as a browser would."""
    pairs = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)
    return {html.unescape(name): html.unescape(value) for name, value in pairs}


class MemoryTokens:
    """The SDK's ``TokenStorage`` in memory, remembering when tokens arrived."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None
        self.received_at = 0.0
        self.history: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens, self.received_at = tokens, time.time()
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def ok(mcp: McpClient, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await mcp.call_tool(tool, arguments, raise_on_error=False)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    assert result.structured_content is not None
    return result.structured_content


async def my_ticket_numbers(mcp: McpClient) -> set[str]:
    mine = await ok(mcp, "list_my_tickets")
    return {t["ticket_number"] for t in mine["tickets"]}


async def metadata(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def authorization_server(stack: FullStack) -> dict[str, Any]:
    """Discovered as a client does: the resource's metadata names the provider."""
    resource = await metadata(f"{stack.ticket.url}/.well-known/oauth-protected-resource/mcp")
    issuer = resource["authorization_servers"][0].rstrip("/")
    return await metadata(f"{issuer}/.well-known/oauth-authorization-server")


async def refresh(server: dict[str, Any], client_id: str, refresh_token: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(
            server["token_endpoint"],
            data={
                "grant_type": "refresh_token",
                "client_id": client_id,
                "refresh_token": refresh_token,
            },
        )


async def revoke(server: dict[str, Any], client_id: str, token: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            server["revocation_endpoint"], data={"token": token, "client_id": client_id}
        )
    assert response.status_code == 200, response.text


async def test_the_unauthenticated_call_points_at_the_resource_metadata(stack: FullStack) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(ticket_mcp_url(stack), json={})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert f"{stack.ticket.url}/.well-known/oauth-protected-resource/mcp" in challenge
    server = await authorization_server(stack)
    assert server["registration_endpoint"]
    assert server["client_id_metadata_document_supported"] is True


async def test_the_sdk_and_fastmcp_clients_each_sign_in_refresh_an_expired_token_and_go_on(
    stack: FullStack,
) -> None:
    """The two clients at once, so that the time their access tokens take to expire is waited
    once, not once each. A token may expire before the test reads it (the machine is slow): the
    client then refreshed it already, and the test waits for the refreshed one."""
    async with anyio.create_task_group() as clients:
        clients.start_soon(
            the_mcp_sdk_provider_registers_signs_in_refreshes_and_loses_a_grant, stack
        )
        clients.start_soon(fastmcp_oauth_signs_in_refreshes_an_expired_token_and_upgrades, stack)


async def the_mcp_sdk_provider_registers_signs_in_refreshes_and_loses_a_grant(
    stack: FullStack,
) -> None:
    browser, storage = Browser(), MemoryTokens()
    provider = OAuthClientProvider(
        server_url=ticket_mcp_url(stack),
        client_metadata=OAuthClientMetadata(
            client_name="SDK dance test",
            redirect_uris=[AnyUrl("http://127.0.0.1:47123/callback")],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )
    transport = StreamableHttpTransport(ticket_mcp_url(stack), auth=provider)
    async with Client(transport, timeout=60) as mcp:
        tools = {tool.name for tool in await mcp.list_tools()}
        assert {"list_my_tickets", "select_upgrade", "pay_upgrade"} <= tools
        assert await my_ticket_numbers(mcp) == JOHN_TICKETS

        assert storage.client_info is not None
        assert storage.client_info.client_id
        client_id = storage.client_info.client_id
        assert len(browser.callbacks) == 1
        assert "SDK dance test" in browser.consent_pages[0]  # the consent names the client
        first = storage.tokens
        assert first is not None
        assert first.refresh_token
        assert first.expires_in

        # The SDK refreshes once its own clock says the access token has expired.
        deadline = time.monotonic() + EXPIRY_DEADLINE
        while time.time() <= storage.received_at + first.expires_in:
            assert time.monotonic() < deadline, "the access token never expired"
            await anyio.sleep(0.5)
        assert await my_ticket_numbers(mcp) == JOHN_TICKETS
        second = storage.tokens
        assert second is not None
        assert second.access_token != first.access_token
        assert second.refresh_token
        assert second.refresh_token != first.refresh_token
        assert len(browser.callbacks) == 1, "refresh must not need the user again"

    server = await authorization_server(stack)
    await revoke(server, client_id, second.refresh_token)
    refused = await refresh(server, client_id, second.refresh_token)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")


class ScriptedOAuth(OAuth):
    """FastMCP's ``OAuth`` with the scripted browser in place of the real one; the rest (its
    registration, callback URI on a loopback port, key-value token storage) is FastMCP's."""

    def __init__(self, browser: Browser, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.browser = browser

    async def redirect_handler(self, authorization_url: str) -> None:
        await self.browser.open(authorization_url)

    async def callback_handler(self) -> AuthorizationCodeResult:
        return await self.browser.callback()


async def fastmcp_oauth_signs_in_refreshes_an_expired_token_and_upgrades(
    stack: FullStack,
) -> None:
    browser, url = Browser(), ticket_mcp_url(stack)
    oauth = ScriptedOAuth(browser, mcp_url=url, client_name="FastMCP dance test")
    async with Client(StreamableHttpTransport(url, auth=oauth), timeout=60) as mcp:
        assert await my_ticket_numbers(mcp) == JOHN_TICKETS
        assert len(browser.callbacks) == 1
        stored = await oauth.token_storage_adapter.get_tokens()
        assert stored is not None
        assert stored.refresh_token
        expiry = await oauth.token_storage_adapter.get_token_expiry()
        assert expiry is not None

        # FastMCP refreshes once the absolute expiry it stored has passed.
        deadline = time.monotonic() + EXPIRY_DEADLINE
        while time.time() <= expiry:
            assert time.monotonic() < deadline, "the access token never expired"
            await anyio.sleep(0.5)
        assert await my_ticket_numbers(mcp) == JOHN_TICKETS
        refreshed = await oauth.token_storage_adapter.get_tokens()
        assert refreshed is not None
        assert refreshed.access_token != stored.access_token
        assert refreshed.refresh_token
        assert refreshed.refresh_token != stored.refresh_token
        assert len(browser.callbacks) == 1, "refresh must not need the user again"

        # The whole journey with the token the dance gave: John upgrades his general ticket.
        calendar = await ok(
            mcp, "get_availability_calendar", ticket_number="TKT-JD0001", tier="double_fun"
        )
        day = next(d for d in calendar["days"] if d["available"])
        order = await ok(
            mcp,
            "select_upgrade",
            ticket_number="TKT-JD0001",
            tier="double_fun",
            date=day["date"],
            idempotency_key=f"select-{uuid.uuid4().hex}",
        )
        assert order["status"] == "awaiting_payment"
        paid = await ok(
            mcp,
            "pay_upgrade",
            order_id=order["order_id"],
            payment_method="pm_card_visa",
            idempotency_key=f"pay-{uuid.uuid4().hex}",
        )
        assert paid["payment_status"] == "succeeded", paid
        assert paid["order"]["status"] == "confirmed"
        ticket = await ok(mcp, "get_ticket", ticket_number="TKT-JD0001")
        assert ticket["upgrade_tier"] == "double_fun"

    client_info = await oauth.token_storage_adapter.get_client_info()
    assert client_info is not None
    server = await authorization_server(stack)
    await revoke(server, client_info.client_id or "", refreshed.refresh_token)
    refused = await refresh(server, client_info.client_id or "", refreshed.refresh_token)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")


@contextmanager
def metadata_document() -> Iterator[str]:
    """A client metadata document served on loopback (the dev provider allows http there); its
    URL is the client id."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # listening before the thread starts: the first fetch waits, not fails
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/oauth/client.json"

    async def document(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "client_id": url,
                "client_name": "Document Client",
                "redirect_uris": ["http://127.0.0.1/callback"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            }
        )

    app = Starlette(routes=[Route("/oauth/client.json", document)])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@asynccontextmanager
async def bearer_client(url: str, token: str) -> AsyncIterator[McpClient]:
    async with Client(StreamableHttpTransport(url, auth=token), timeout=60) as mcp:
        yield mcp


async def test_a_metadata_document_client_signs_in_and_calls_the_ticket_server(
    stack: FullStack,
) -> None:
    """The SDK accepts only an https ``client_metadata_url``, so this client is driven with an
    HTTP client: the same discovery, the same form, PKCE, then the token on the MCP endpoint."""
    server = await authorization_server(stack)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    redirect_uri = "http://127.0.0.1:47124/callback"
    with metadata_document() as client_id:
        browser = Browser()
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": CUSTOMER_SCOPE,
            "state": "doc",
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        await browser.open(str(httpx.URL(server["authorization_endpoint"], params=query)))
        assert "Document Client" in browser.consent_pages[0]
        result = await browser.callback()
        assert result.state == "doc"
        async with httpx.AsyncClient(timeout=10) as http:
            tokens = await http.post(
                server["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "client_id": client_id,
                    "redirect_uri": redirect_uri,
                    "code": result.code,
                    "code_verifier": verifier,
                },
            )
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
    async with bearer_client(ticket_mcp_url(stack), body["access_token"]) as mcp:
        assert await my_ticket_numbers(mcp) == JOHN_TICKETS
    rotated = await refresh(server, client_id, body["refresh_token"])
    assert rotated.status_code == 200, rotated.text
