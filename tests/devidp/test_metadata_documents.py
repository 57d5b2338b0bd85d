"""Client ID Metadata Documents: fetched with limits, validated, cached (stand-in transport)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from servers.devidp.metadata_documents import (
    CACHE_SECONDS,
    MAX_DOCUMENT_BYTES,
    ClientMetadataDocuments,
    ClientMetadataError,
)

from .support import FakeClock

URL = "https://assistant.example/oauth/client.json"


def _document(**overrides: Any) -> dict[str, Any]:
    return {
        "client_id": URL,
        "client_name": "Example Assistant",
        "redirect_uris": ["http://127.0.0.1/callback", "https://assistant.example/cb"],
        "token_endpoint_auth_method": "none",
        **overrides,
    }


class Server:
    """Answers every request with one response; counts requests."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.requests: list[httpx.Request] = []

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.response

        return httpx.MockTransport(handle)


def _documents(
    server: Server, clock: FakeClock, *, dev_mode: bool = False
) -> ClientMetadataDocuments:
    return ClientMetadataDocuments(
        clock=clock, allow_loopback_http=dev_mode, transport=server.transport()
    )


async def test_a_valid_document_is_a_public_client(clock: FakeClock) -> None:
    server = Server(httpx.Response(200, json=_document()))
    client = await _documents(server, clock).get(URL)
    assert client.client_id == URL
    assert client.client_name == "Example Assistant"
    assert client.client_secret is None
    assert client.self_registered
    assert client.accepts_redirect_uri("http://127.0.0.1:61000/callback")
    assert "data/read" not in client.scopes
    assert "tickets/read" in client.scopes
    assert server.requests[0].url == URL


async def test_documents_are_cached(clock: FakeClock) -> None:
    server = Server(httpx.Response(200, json=_document()))
    documents = _documents(server, clock)
    await documents.get(URL)
    await documents.get(URL)
    assert len(server.requests) == 1
    clock.now += CACHE_SECONDS
    await documents.get(URL)
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(200, json=_document(client_id="https://other.example/c.json")), "equal"),
        (httpx.Response(200, json=_document(redirect_uris=["http://evil.example/cb"])), "https"),
        (
            httpx.Response(200, json=_document(token_endpoint_auth_method="private_key_jwt")),
            "public",
        ),
        (httpx.Response(200, json=_document(scope="data/write")), "not available"),
        (httpx.Response(200, content=b"<html>"), "not JSON"),
        (httpx.Response(200, json=[URL]), "equal"),
        (httpx.Response(404), "404"),
        (httpx.Response(302, headers={"location": "https://evil.example/c.json"}), "redirects"),
        (
            httpx.Response(200, content=json.dumps(_document(pad="x" * MAX_DOCUMENT_BYTES))),
            "exceeds",
        ),
    ],
)
async def test_bad_documents_are_refused(
    clock: FakeClock, response: httpx.Response, reason: str
) -> None:
    with pytest.raises(ClientMetadataError, match=reason):
        await _documents(Server(response), clock).get(URL)


@pytest.mark.parametrize(
    ("url", "dev_mode"),
    [
        ("http://assistant.example/client.json", True),
        ("http://127.0.0.1:8123/client.json", False),
        ("https://assistant.example/", False),
        ("https://assistant.example/a/../client.json", False),
        ("https://user@assistant.example/client.json", False),
        ("https://assistant.example/client.json#x", False),
        ("ftp://assistant.example/client.json", False),
    ],
)
async def test_bad_urls_are_not_fetched(clock: FakeClock, url: str, dev_mode: bool) -> None:
    server = Server(httpx.Response(200, json=_document(client_id=url)))
    with pytest.raises(ClientMetadataError):
        await _documents(server, clock, dev_mode=dev_mode).get(url)
    assert server.requests == []


async def test_loopback_http_is_allowed_in_dev_mode(clock: FakeClock) -> None:
    url = "http://127.0.0.1:8123/client.json"
    server = Server(httpx.Response(200, json=_document(client_id=url)))
    client = await _documents(server, clock, dev_mode=True).get(url)
    assert client.client_id == url


async def test_unreachable_and_slow_servers_are_reported(clock: FakeClock) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def too_slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    for handler, reason in ((refuse, "cannot be fetched"), (too_slow, "timed out")):
        documents = ClientMetadataDocuments(
            clock=clock, allow_loopback_http=False, transport=httpx.MockTransport(handler)
        )
        with pytest.raises(ClientMetadataError, match=reason):
            await documents.get(URL)


async def test_the_whole_fetch_is_bounded_in_time(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server that never finishes: the overall deadline ends the fetch, not each read's.
    monkeypatch.setattr("servers.devidp.metadata_documents.FETCH_TIMEOUT_SECONDS", 0.01)
    never = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    documents = ClientMetadataDocuments(
        clock=clock, allow_loopback_http=False, transport=httpx.MockTransport(hang)
    )
    with pytest.raises(ClientMetadataError, match="timed out"):
        await documents.get(URL)
