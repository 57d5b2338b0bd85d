"""What the concierge remembers, behind one interface: sessions that belong to one customer,
the conversation of each (as the model saw it) and the events the customer was shown; and, across
sessions, the facts the model chose to keep about the customer (:mod:`.facts`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from host.providers.base import Block, Message, TextBlock, ToolResultBlock, ToolUse
from host.redact import redact, redact_value

SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
"""The session ids a caller may name (:meth:`MemoryStore.open_session`): AgentCore Memory's, which
the runtime session ids of AgentCore Runtime (UUIDs) and the host's own ``ses_...`` ids fit."""


@dataclass
class Session:
    session_id: str
    customer_id: str
    created_at: datetime
    state: dict[str, Any] = field(default_factory=dict)


class MemoryStore(Protocol):
    async def new_session(self, customer_id: str) -> Session: ...

    async def open_session(self, customer_id: str, session_id: str) -> Session | None:
        """The customer's session of this id, started now if there is none yet (AgentCore
        Runtime names sessions itself). None for an id that does not fit :data:`SESSION_ID`,
        and, in a store whose ids all customers share, for another customer's; a store that
        keys sessions by customer gives each customer their own session of that id. Either
        way, nobody sees another customer's turns."""
        ...

    async def session(self, customer_id: str, session_id: str) -> Session | None:
        """The session if it is this customer's; another customer's answers None, as an
        unknown id does."""
        ...

    async def messages(self, session: Session) -> list[Message]: ...

    async def events(self, session: Session) -> list[dict[str, Any]]: ...

    async def save_turn(
        self, session: Session, messages: list[Message], events: list[dict[str, Any]]
    ) -> None:
        """Appends a turn's messages and events and saves the session's state, together; the
        facts the model asked to keep in the turn (:func:`.facts.facts_of_turn`) are kept for the
        session's customer."""
        ...

    async def recall(self, customer_id: str, query: str) -> list[str]:
        """What is remembered about this customer (never another), at most
        :data:`.facts.RECALL_LIMIT` facts, the most relevant to ``query`` (the customer's
        message) first where the store can rank them, else the most recent first."""
        ...


def block_to_json(block: Block) -> dict[str, Any]:
    """The block as stored, card numbers removed: the loop removes them before anything gets
    here, and a store does not rely on that."""
    if isinstance(block, TextBlock):
        return {"type": "text", "text": redact(block.text)}
    if isinstance(block, ToolUse):
        return {
            "type": "tool_use",
            "id": block.id,
            "name": block.name,
            "arguments": redact_value(block.arguments),
        }
    return {
        "type": "tool_result",
        "tool_use_id": block.tool_use_id,
        "content": redact(block.content),
        "ok": block.ok,
    }


def block_from_json(data: dict[str, Any]) -> Block:
    if data["type"] == "text":
        return TextBlock(data["text"])
    if data["type"] == "tool_use":
        return ToolUse(data["id"], data["name"], data["arguments"])
    return ToolResultBlock(data["tool_use_id"], data["content"], data["ok"])
