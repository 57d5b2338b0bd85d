"""What the concierge remembers, behind one interface: sessions that belong to one customer,
the conversation of each (as the model saw it) and the events the customer was shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from host.providers.base import Block, Message, TextBlock, ToolResultBlock, ToolUse


@dataclass
class Session:
    session_id: str
    customer_id: str
    created_at: datetime
    state: dict[str, Any] = field(default_factory=dict)


class MemoryStore(Protocol):
    async def new_session(self, customer_id: str, session_id: str | None = None) -> Session:
        """A new session of this customer; ``session_id``, when given, is one the caller
        derived from this customer and an outside session id (the AgentCore runtime's), and
        creating it again leaves the existing one as it is."""
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
        """Appends a turn's messages and events and saves the session's state, together."""
        ...


def block_to_json(block: Block) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ToolUse):
        return {
            "type": "tool_use",
            "id": block.id,
            "name": block.name,
            "arguments": block.arguments,
        }
    return {
        "type": "tool_result",
        "tool_use_id": block.tool_use_id,
        "content": block.content,
        "ok": block.ok,
    }


def block_from_json(data: dict[str, Any]) -> Block:
    if data["type"] == "text":
        return TextBlock(data["text"])
    if data["type"] == "tool_use":
        return ToolUse(data["id"], data["name"], data["arguments"])
    return ToolResultBlock(data["tool_use_id"], data["content"], data["ok"])
