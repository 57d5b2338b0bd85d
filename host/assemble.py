"""The host put together from its settings: one app on one port serving the chat API,
AgentCore's entry, the ``ask_concierge`` MCP endpoint and the web app (``python -m host`` runs
it; the tests run the very same assembly with a scripted model)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from starlette.types import ASGIApp

from servers.core.app import HealthCheck
from servers.core.backoff import Backoff

from .api import build_app
from .chats import Chats, Visitors
from .loop import Concierge, Limits
from .mcp_endpoint import build_mcp_endpoint
from .memory.base import MemoryStore
from .providers.base import ModelProvider
from .settings import HostSettings
from .toolbox import McpServer
from .visitors import HostToken, VisitorMemory


@asynccontextmanager
async def assembled(
    settings: HostSettings,
    provider: ModelProvider | None,
    memory: MemoryStore,
    health: HealthCheck,
    *,
    web: ASGIApp | None = None,
    backoff: Backoff | None = None,
) -> AsyncIterator[ASGIApp]:
    """The host's ASGI app; ``provider`` None: no model (the chat answers 503), and a
    ``settings.client_secret`` of None: no visitors (a chat without a token is 401)."""
    host_token = (
        None
        if settings.client_secret is None
        else HostToken(
            settings.issuer, settings.client_id, settings.client_secret.get_secret_value()
        )
    )
    limits = Limits(
        max_steps=settings.max_steps,
        turn_timeout_seconds=settings.turn_timeout_seconds,
        tool_timeout_seconds=settings.tool_timeout_seconds,
        model_retries=settings.model_retries,
    )
    ticket = McpServer("ticket", settings.ticket_url)
    concierge = visitors = None
    if provider is not None:

        def over(
            memory: MemoryStore, servers: list[McpServer], *, remembers: bool = True
        ) -> Concierge:
            made = Concierge(provider, memory, servers, limits, remembers=remembers)
            # Tests shorten the model's retry backoff; the loop's default serves the rest.
            return made if backoff is None else replace(made, backoff=backoff)

        concierge = over(memory, [ticket, McpServer("payment", settings.payment_url)])
        if host_token is not None:
            # Visitors: the ticket server's public prices only, kept in this process.
            visitors = Visitors(over(VisitorMemory(), [ticket], remembers=False), host_token)
    chats = Chats(memory, concierge, visitors)
    try:
        yield build_app(
            settings,
            memory=memory,
            concierge=concierge,
            health=health,
            web=web,
            visitors=visitors,
            mcp=await build_mcp_endpoint(chats, settings, health),
        )
    finally:
        if host_token is not None:
            await host_token.close()
