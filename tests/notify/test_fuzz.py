"""Bad input, generated: send_email and preview_email accept a context exactly when the template's
model does, answer a coded error (never INTERNAL) otherwise, and queue nothing for it; mangled and
header-breaking addresses are always refused.

As in ``tests/data/test_fuzz.py``, Hypothesis only generates here (deterministically); the async
test then calls the in-memory server with each value.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import mcp_types
import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from hypothesis import strategies as st
from pydantic import ValidationError

from servers.core.auth import Principal, acting_as
from servers.core.db import Database
from servers.notify.rendering import SPECS, UpgradeConfirmed
from servers.notify.server import build_server
from tests.hypothesis_examples import JSON_VALUES, examples

from .support import FakeClock, count, service

MCPClient = Client[FastMCPTransport]
CODE = re.compile(r"^(INVALID_ARGUMENT|UNKNOWN_TEMPLATE): \S")
EXAMPLES = 60

BREAKS = st.sampled_from(["\r", "\n", "\r\n", "\x00", "\u2028", "\x0b"])


def mangled_contexts() -> st.SearchStrategy[dict[str, Any]]:
    """A valid confirmation context with one field replaced, removed or added."""
    example = SPECS["upgrade_confirmed"].example
    field = st.sampled_from(sorted(example))
    replaced = st.tuples(field, JSON_VALUES).map(lambda fv: {**example, fv[0]: fv[1]})
    removed = field.map(lambda f: {k: v for k, v in example.items() if k != f})
    injected = st.tuples(field, BREAKS).map(
        lambda fb: {**example, fb[0]: f"{example[fb[0]]}{fb[1]}Bcc: all@example.com"}
    )
    added = st.text(min_size=1, max_size=12).filter(lambda k: k not in example)
    return (replaced | removed | injected | added.map(lambda k: {**example, k: 1})).filter(
        lambda ctx: ctx != example
    )


def bad_addresses() -> st.SearchStrategy[str]:
    good = "jane@example.com"
    broken = st.tuples(st.integers(0, len(good)), BREAKS).map(
        lambda ib: good[: ib[0]] + ib[1] + good[ib[0] :]
    )
    return broken | st.text(max_size=60).filter(lambda s: "@" not in s) | st.just("a@b@c.com")


@pytest.fixture
async def client(db: Database) -> AsyncIterator[MCPClient]:
    with acting_as(Principal("ticket-server")):  # as the ticket server calls it
        async with Client(build_server(service(db, FakeClock()))) as c:
            yield c


def accepted_by_model(context: Any) -> bool:
    try:
        UpgradeConfirmed.model_validate(context)
    except ValidationError:
        return False
    return True


async def outcome(client: MCPClient, tool: str, arguments: dict[str, Any]) -> bool:
    """True on success; otherwise checks the error is coded, and not INTERNAL."""
    result = await client.call_tool(tool, arguments, raise_on_error=False)
    if not result.is_error:
        return True
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent)
    assert CODE.match(block.text), block.text
    return False


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
async def test_contexts_are_accepted_exactly_when_the_template_model_accepts_them(
    client: MCPClient, db: Database
) -> None:
    contexts = examples(mangled_contexts(), EXAMPLES) + examples(JSON_VALUES, 20)
    accepted = 0
    for context in contexts:
        expected = accepted_by_model(context)
        preview = {"template": "upgrade_confirmed", "context": context}
        assert await outcome(client, "preview_email", preview) is expected, context
        send = {**preview, "to": "jane@example.com", "idempotency_key": f"f-{uuid.uuid4().hex}"}
        assert await outcome(client, "send_email", send) is expected, context
        accepted += expected
    assert 0 < accepted < len(contexts)
    assert await count(db, "messages") == accepted


@pytest.mark.parametrize("db_backend", ["postgres"], indirect=True)
async def test_bad_addresses_are_refused_and_queue_nothing(client: MCPClient, db: Database) -> None:
    for to in examples(bad_addresses(), 40):
        arguments = {
            "template": "upgrade_confirmed",
            "context": SPECS["upgrade_confirmed"].example,
            "to": to,
            "idempotency_key": f"f-{uuid.uuid4().hex}",
        }
        assert not await outcome(client, "send_email", arguments), repr(to)
    assert await count(db, "messages") == 0
    assert await count(db, "idempotency_keys") == 0
