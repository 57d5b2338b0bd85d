"""The kit's service client against the real identity provider and data server."""

from __future__ import annotations

from typing import Protocol

import pytest

from servers.core.client import (
    HttpServiceClient,
    RemoteToolError,
    ServiceClient,
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
    return ServiceClient.over_http(
        stack.mcp_url, issuer=stack.issuer, client_id="ops", client_secret=secret, scopes=scopes
    )


async def test_fetches_one_token_and_reuses_it(http_stack: Stack) -> None:
    async with ops_client(http_stack, ["data/read"]) as client:
        inventory = await client.call(
            "get_date_inventory", {"start_date": "2030-01-01", "end_date": "2030-01-02"}
        )
        first = client.auth.context.current_tokens
        await client.call("check_integrity")
        assert client.auth.context.current_tokens is first
    assert first is not None
    assert first.scope == "data/read"
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
