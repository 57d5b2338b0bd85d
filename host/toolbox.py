"""The MCP servers' tools, resources and prompts as one turn of the concierge sees them.

Everything is discovered at run time over MCP with the customer's own access token (forwarded,
never exchanged), so the model is shown what this customer may use and nothing is hard-coded.
Arguments only operators may pass (``customer_id``) and the ones the host fills in itself
(``idempotency_key``) are taken out of the schemas the model sees.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp_types import TextResourceContents, Tool

from servers.core.scopes import TICKETS_CATALOGUE

from .providers.base import ToolSpec

log = logging.getLogger(__name__)

OPERATOR_ONLY_ARGUMENTS = frozenset({"customer_id"})
"""Arguments that let an operator act for any customer: never shown to the model, never sent."""
HOST_FILLED_ARGUMENTS = frozenset({"idempotency_key"})
"""Arguments the host derives itself, so that a retried action replays instead of repeating."""
CONTEXT_CHARS = 4000
"""At most this much of one resource or prompt goes into the system prompt."""
VISITOR_SCOPES = frozenset({TICKETS_CATALOGUE})
"""What the host's own token carries: a turn with no more than this acts for no customer."""
SIGN_IN = (
    "SIGN_IN_REQUIRED: please sign in to see or change your tickets, orders or payments; "
    "without signing in I can tell you about the tiers and their prices"
)
VISITOR_NOTE = (
    "## the visitor\nThis visitor is not signed in. You can explain the three tiers, what "
    "they include and their prices by ticket type and date with the tools you have. For "
    "anything about their own tickets, orders or payments, ask them to sign in first."
)
MCP_APP = "text/html;profile=mcp-app"
"""An MCP App's resource: a view for hosts that render apps (a document of inline scripts),
nothing for the model to read."""


@dataclass(frozen=True)
class McpServer:
    name: str
    url: str


@dataclass(frozen=True)
class ToolOutcome:
    """What a tool answered: its structured result, or the text of its error."""

    ok: bool
    data: dict[str, Any]
    text: str


Connect = Callable[[McpServer, str, float], Client[Any]]


def http_client(server: McpServer, token: str, timeout: float) -> Client[Any]:
    transport = StreamableHttpTransport(server.url, headers={"Authorization": f"Bearer {token}"})
    return Client(transport, timeout=timeout)


def model_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's input schema without the arguments the model must not (or need not) give."""
    hidden = OPERATOR_ONLY_ARGUMENTS | HOST_FILLED_ARGUMENTS
    shown = copy.deepcopy(schema)
    properties = shown.get("properties")
    if isinstance(properties, dict):
        shown["properties"] = {k: v for k, v in properties.items() if k not in hidden}
    required = shown.get("required")
    if isinstance(required, list):
        shown["required"] = [name for name in required if name not in hidden]
    return shown


def _scopes_of(tool: Tool) -> tuple[str, ...]:
    scopes = (tool.meta or {}).get("scopes", ())
    return tuple(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list) else ()


@dataclass
class Toolbox:
    """Sessions with every server for one turn. ``scopes`` are the customer's token's: a tool
    that names scopes none of which the token holds is not offered (it would only be refused)."""

    servers: Sequence[McpServer]
    token: str
    scopes: frozenset[str]
    timeout: float
    connect: Connect = http_client
    tools: list[ToolSpec] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    _where: dict[str, Client[Any]] = field(default_factory=dict)
    _keyed: set[str] = field(default_factory=set)
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    @property
    def visitor(self) -> bool:
        """Whether the turn acts for no customer: its token is the host's own, whose scopes
        are exactly these (a customer's token always carries their own scopes too)."""
        return self.scopes == VISITOR_SCOPES

    async def __aenter__(self) -> Self:
        if self.visitor:
            self.context.append(VISITOR_NOTE)
        for server in self.servers:
            client = self.connect(server, self.token, self.timeout)
            try:
                await asyncio.wait_for(self._stack.enter_async_context(client), self.timeout)
                await asyncio.wait_for(self._discover(server, client), self.timeout)
            except Exception:
                # One server down leaves the others usable; the model just lacks its tools.
                log.warning("discovery of the %s server failed", server.name, exc_info=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def _discover(self, server: McpServer, client: Client[Any]) -> None:
        init = client.initialize_result
        if init is not None and init.instructions:
            self.context.append(f"## {server.name} server\n{init.instructions}")
        for tool in await client.list_tools():
            needed = _scopes_of(tool)
            if (needed and self.scopes.isdisjoint(needed)) or tool.name in self._where:
                continue
            self._where[tool.name] = client
            if set(HOST_FILLED_ARGUMENTS) & set(tool.input_schema.get("properties", {})):
                self._keyed.add(tool.name)
            self.tools.append(
                ToolSpec(tool.name, tool.description or "", model_schema(tool.input_schema))
            )
        for resource in await client.list_resources():
            if resource.mime_type == MCP_APP:
                continue
            for content in await client.read_resource(resource.uri):
                if isinstance(content, TextResourceContents):
                    self.context.append(
                        f"## {resource.name} ({resource.uri})\n{content.text[:CONTEXT_CHARS]}"
                    )
        for prompt in await client.list_prompts():
            # The prompt's own placeholders stay visible: the model fills them from the chat.
            arguments = {a.name: f"<{a.name}>" for a in prompt.arguments or []}
            result = await client.get_prompt(prompt.name, arguments)
            texts = [getattr(m.content, "text", "") for m in result.messages]
            self.context.append(f"## prompt {prompt.name}\n{''.join(texts)[:CONTEXT_CHARS]}")

    def has(self, name: str) -> bool:
        return name in self._where

    def takes_key(self, name: str) -> bool:
        """Whether the tool takes an ``idempotency_key`` (which the host then fills in)."""
        return name in self._keyed

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Calls a discovered tool; an unknown one, a time-out or a failure is an outcome too."""
        client = self._where.get(name)
        if client is None and self.visitor:
            # A visitor's model may still reach for a customer's tool: the answer is to sign
            # in, whatever the tool; none of them was discovered, so none can be called.
            return ToolOutcome(False, {}, SIGN_IN)
        if client is None:
            return ToolOutcome(False, {}, f"UNKNOWN_TOOL: there is no tool named {name!r}")
        sent = {k: v for k, v in arguments.items() if k not in OPERATOR_ONLY_ARGUMENTS}
        try:
            result = await asyncio.wait_for(
                client.call_tool(name, sent, raise_on_error=False), self.timeout
            )
        except TimeoutError:
            return ToolOutcome(False, {}, "UNAVAILABLE: the service took too long to answer")
        except Exception:
            log.warning("tool %s could not be called", name, exc_info=True)
            return ToolOutcome(False, {}, "UNAVAILABLE: the service could not be reached")
        text = " ".join(getattr(block, "text", "") for block in result.content)
        if result.is_error:
            return ToolOutcome(False, {}, text)
        return ToolOutcome(True, dict(result.structured_content or {}), text)
