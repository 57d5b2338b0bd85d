"""The kit's service client against the real identity provider and data server."""

from __future__ import annotations

import asyncio
from typing import Protocol

import pytest

from servers.core.client import (
    ClientCredentials,
    HttpServiceClient,
    RemoteToolError,
    RemoteUnavailable,
    parse_tool_error,
)
from servers.devidp.clients import ClientRegistry
from servers.devidp.keys import SigningKey

pytestmark = pytest.mark.http


class Stack(Protocol):
    key: SigningKey

    @property
    def mcp_url(self) -> str: ...

    @property
    def issuer(self) -> str: ...


def ops_client(stack: Stack, scopes: list[str]) -> HttpServiceClient:
    secret = ClientRegistry.load(stack.key).client_secret("ops")
    assert secret is not None
    credentials = ClientCredentials(stack.issuer, "ops", secret, scopes)
    return HttpServiceClient(stack.mcp_url, credentials=credentials)


async def test_fetches_one_token_and_reuses_it(http_stack: Stack) -> None:
    async with ops_client(http_stack, ["data/read"]) as client:
        inventory = await client.call(
            "get_date_inventory", {"start_date": "2030-01-01", "end_date": "2030-01-02"}
        )
        await asyncio.gather(*(client.call("check_integrity") for _ in range(5)))
        assert client.credentials.fetched == 1
    assert len(inventory["days"]) == 6


async def test_remote_domain_errors_keep_their_code(http_stack: Stack) -> None:
    async with ops_client(http_stack, ["data/read"]) as client:
        with pytest.raises(RemoteToolError) as refused:
            await client.call("get_ticket", {"ticket_number": "TKT-NONE0000"})
    assert refused.value.code == "TICKET_NOT_FOUND"
    assert refused.value.tool == "get_ticket"
    assert "TKT-NONE0000" in refused.value.message


def test_parse_tool_error_without_a_code() -> None:
    error = parse_tool_error("t", "something odd happened")
    assert (error.code, error.message) == ("REMOTE_ERROR", "something odd happened")
    assert parse_tool_error("t", "SOLD_OUT: none left").code == "SOLD_OUT"


async def test_an_unreachable_server_is_unavailable(http_stack: Stack) -> None:
    secret = ClientRegistry.load(http_stack.key).client_secret("ops")
    assert secret is not None
    credentials = ClientCredentials(http_stack.issuer, "ops", secret, ["data/read"])
    # Port 9 (discard) on loopback: nothing listens there.
    async with HttpServiceClient("http://127.0.0.1:9/mcp", credentials=credentials) as client:
        with pytest.raises(RemoteUnavailable) as refused:
            await client.call("check_integrity")
    assert refused.value.code == "UNAVAILABLE"
    assert credentials.fetched == 1
