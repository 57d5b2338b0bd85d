"""A conversation every provider test sends, and reading a provider's whole answer."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from host.loop import Concierge, Customer
from host.memory.postgres import PostgresMemory
from host.providers.base import (
    Assembler,
    Block,
    Message,
    ModelError,
    ModelEvent,
    ModelProvider,
    ModelRequest,
    Reply,
    TextBlock,
    ToolResultBlock,
    ToolSpec,
    ToolUse,
)
from servers.core.backoff import Backoff
from servers.core.db.postgres import PostgresDatabase

LIST_TICKETS = ToolSpec(
    "list_my_tickets",
    "The signed-in customer's tickets.",
    {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": ["active", "used"]}},
        "additionalProperties": False,
    },
)
OPTIONS = ToolSpec(
    "get_upgrade_options",
    "",
    {
        "type": "object",
        "properties": {"ticket_number": {"type": "string"}},
        "required": ["ticket_number"],
    },
)

CONVERSATION = ModelRequest(
    "You are the park's concierge.",
    (
        Message("user", (TextBlock("Which tickets do I have?"),)),
        Message(
            "assistant",
            (TextBlock("Let me look."), ToolUse("call_1", "list_my_tickets", {"status": "active"})),
        ),
        Message("user", (ToolResultBlock("call_1", '{"tickets": []}', True),)),
        Message("assistant", (ToolUse("call_2", "get_upgrade_options", {"ticket_number": "T"}),)),
        Message(
            "user",
            (
                ToolResultBlock("call_2", "NOT_FOUND: no such ticket", False),
                TextBlock("And upgrades?"),
            ),
        ),
    ),
    (LIST_TICKETS, OPTIONS),
)


async def answer(provider: ModelProvider, request: ModelRequest) -> tuple[list[ModelEvent], Reply]:
    """Every event of one answer, and the answer put back together as the loop does."""
    events = [event async for event in provider.stream(request)]
    assembler = Assembler()
    for event in events:
        assembler.add(event)
    return events, assembler.finish()


async def one_turn(provider: ModelProvider, database_url: str) -> list[dict[str, Any]]:
    """The events of one chat turn of the real loop over ``provider`` (no MCP servers)."""
    db = await PostgresDatabase(database_url, min_size=1, max_size=2).open()
    try:
        memory = PostgresMemory(db)
        concierge = Concierge(provider, memory, [], backoff=Backoff(0.001, 0.002, jitter=0))
        session = await memory.new_session("cus_provider")
        customer = Customer("cus_provider", "not-a-real-token", frozenset())
        return [e async for e in concierge.turn(customer, session, "Hello?")]
    finally:
        await db.close()


async def until_error(
    provider: ModelProvider, request: ModelRequest
) -> tuple[list[ModelEvent], ModelError]:
    """The events streamed before the answer failed, and its error (which it must raise)."""
    seen: list[ModelEvent] = []
    try:
        async for event in provider.stream(request):
            seen.append(event)
    except ModelError as exc:
        return seen, exc
    raise AssertionError(f"the answer did not fail: {seen}")


def fragments(text: str) -> st.SearchStrategy[list[str]]:
    """``text`` cut into non-empty pieces at arbitrary places."""
    return st.sets(st.integers(1, max(1, len(text) - 1)), max_size=8).map(
        lambda cuts: [
            text[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(text)], strict=True)
        ]
    )


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=30)
_ids = st.from_regex(r"[a-zA-Z0-9_-]{1,20}", fullmatch=True)
_arguments = st.dictionaries(
    st.sampled_from(["status", "ticket_number", "tier", "date"]),
    st.one_of(_text, st.integers(-5, 5), st.booleans()),
    max_size=3,
)
_blocks: st.SearchStrategy[Block] = st.one_of(
    st.builds(TextBlock, _text),
    st.builds(
        ToolUse, _ids, st.sampled_from(["list_my_tickets", "get_upgrade_options"]), _arguments
    ),
    st.builds(ToolResultBlock, _ids, _text, st.booleans()),
)
conversations = st.builds(
    ModelRequest,
    _text,
    st.lists(
        st.builds(
            Message,
            st.sampled_from(["user", "assistant"]),
            st.lists(_blocks, max_size=3).map(tuple),
        ),
        min_size=1,
        max_size=4,
    ).map(tuple),
    st.sampled_from([(), (LIST_TICKETS,), (LIST_TICKETS, OPTIONS)]),
)
"""Conversations of any shape the loop might send (including empty texts and messages)."""
