"""The notify server as an MCP client sees it: its tools, honest annotations, scopes, structured
outputs, and errors that start with a stable code and queue nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import mcp_types
import pytest
from fastmcp import Client
from fastmcp.client.client import CallToolResult
from fastmcp.client.transports import FastMCPTransport

from servers.core.auth import Principal, acting_as
from servers.core.db import Database
from servers.notify.models import Message, MessageList, Preview, TemplateList
from servers.notify.rendering import SPECS
from servers.notify.server import build_server

from .support import FakeClock, confirmation, count, key, service

MCPClient = Client[FastMCPTransport]
CODE = re.compile(r"^[A-Z][A-Z_]+: \S")
READ_TOOLS = {"preview_email", "list_templates", "get_message", "list_messages"}
SEND_TOOLS = {"send_email", "retry_message"}


@pytest.fixture
async def client(db: Database) -> AsyncIterator[MCPClient]:
    with acting_as(Principal("ticket-server")):
        async with Client(build_server(service(db, FakeClock()))) as c:
            yield c


def text_of(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent), block
    return block.text


async def ok(client: MCPClient, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def error(client: MCPClient, tool: str, **args: Any) -> str:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, result.structured_content
    text = text_of(result)
    assert CODE.match(text), text
    assert "Traceback" not in text
    return text


async def test_tools_are_described_scoped_and_annotated_honestly(client: MCPClient) -> None:
    tools = {t.name: t for t in await client.list_tools()}
    assert set(tools) == READ_TOOLS | SEND_TOOLS
    for name, tool in tools.items():
        assert len(tool.description or "") > 15, name
        assert tool.input_schema.get("additionalProperties") is False, name
        for param, spec in tool.input_schema.get("properties", {}).items():
            assert spec.get("description"), f"{name}.{param} has no description"
        hints = tool.annotations
        assert hints is not None
        assert hints.read_only_hint is (name in READ_TOOLS), name
        assert hints.idempotent_hint is True, name
        assert hints.destructive_hint is False, name
        # Only the tools that make an e-mail leave reach the outside world.
        assert hints.open_world_hint is (name in SEND_TOOLS), name
        scopes = (tool.meta or {}).get("scopes")
        expected = {
            "send_email": ["notify/send"],
            "retry_message": ["notify/send"],
            "get_message": ["notify/read"],
            "list_messages": ["notify/read"],
        }.get(name, ["notify/send", "notify/read"])
        assert scopes == expected, name
    template_enum = tools["send_email"].input_schema["properties"]["template"]["enum"]
    assert set(template_enum) == set(SPECS)


async def test_send_get_list_and_send_again(client: MCPClient, db: Database) -> None:
    same = key()
    args = {
        "template": "upgrade_confirmed",
        "to": "jane@example.com",
        "context": confirmation(),
        "idempotency_key": same,
        "reference": "ord_" + "a" * 26,
    }
    sent = Message.model_validate(await ok(client, "send_email", **args))
    assert sent.status == "queued"
    again = Message.model_validate(await ok(client, "send_email", **args))
    assert again == sent
    assert await count(db, "messages") == 1
    got = Message.model_validate(await ok(client, "get_message", message_id=sent.message_id))
    assert got == sent
    listed = MessageList.model_validate(
        await ok(client, "list_messages", reference="ord_" + "a" * 26)
    )
    assert [m.message_id for m in listed.messages] == [sent.message_id]
    retried = Message.model_validate(await ok(client, "retry_message", message_id=sent.message_id))
    assert retried == sent
    text = await error(client, "send_email", **{**args, "to": "john@example.com"})
    assert text.startswith("IDEMPOTENCY_MISMATCH: ")


async def test_preview_and_catalogue(client: MCPClient, db: Database) -> None:
    preview = Preview.model_validate(
        await ok(client, "preview_email", template="upgrade_confirmed", context=confirmation())
    )
    assert "UPG-7KQ2M9XD" in preview.subject
    catalogue = TemplateList.model_validate(await ok(client, "list_templates"))
    assert {t.name for t in catalogue.templates} == set(SPECS)
    for template in catalogue.templates:
        await ok(client, "preview_email", template=template.name, context=template.example)
    assert await count(db, "messages") == 0


@pytest.mark.parametrize(
    ("change", "starts"),
    [
        ({"template": "welcome"}, "INVALID_ARGUMENT: template"),
        ({"to": "jane@example.com\r\nBcc: all@example.com"}, "INVALID_ARGUMENT: to"),
        ({"to": "nobody"}, "INVALID_ARGUMENT: to"),
        ({"reference": "x\ny"}, "INVALID_ARGUMENT: reference"),
        ({"context": confirmation(amount_cents="75")}, "INVALID_ARGUMENT: context does not fit"),
        ({"context": {"blob": "x" * 20_000}}, "INVALID_ARGUMENT: context is"),
        ({"idempotency_key": "short"}, "INVALID_ARGUMENT: idempotency_key"),
    ],
)
async def test_bad_sends_are_clear_errors_and_queue_nothing(
    client: MCPClient, db: Database, change: dict[str, Any], starts: str
) -> None:
    args = {
        "template": "upgrade_confirmed",
        "to": "jane@example.com",
        "context": confirmation(),
        "idempotency_key": key(),
        **change,
    }
    text = await error(client, "send_email", **args)
    assert text.startswith(starts), text
    assert await count(db, "messages") == 0


async def test_unknown_message_is_a_coded_error(client: MCPClient) -> None:
    text = await error(client, "get_message", message_id="msg_" + "a" * 26)
    assert text.startswith("MESSAGE_NOT_FOUND: ")
    text = await error(client, "get_message", message_id="../etc/passwd")
    assert text.startswith("INVALID_ARGUMENT: message_id")
