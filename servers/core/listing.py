"""What ``tools/list`` shows a caller: only the tools its token's scopes let it call.

A client (and the model behind it) then sees exactly what it may use: a customer's assistant is
never shown the operators' tools and their ``customer_id`` argument. Calling a tool that is not
listed is still refused by :class:`~servers.core.auth.ScopeGate` (``403 insufficient_scope``);
both read a tool's scopes from the same place, :func:`tool_scopes`.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import Tool
from mcp_types import ListToolsRequest

from .auth import granted_scopes


def tool_scopes(tool: Tool) -> tuple[str, ...]:
    """The scopes that may call ``tool`` (any one suffices), from the kit's ``requires``."""
    return tuple((tool.meta or {}).get("scopes", ()))


def may_call(tool: Tool, granted: frozenset[str]) -> bool:
    needed = tool_scopes(tool)
    return not needed or not granted.isdisjoint(needed)


class ScopedListing(Middleware):
    """Lists only the tools the caller's scopes reach."""

    async def on_list_tools(
        self,
        context: MiddlewareContext[ListToolsRequest],
        call_next: CallNext[ListToolsRequest, Sequence[Tool]],
    ) -> Sequence[Tool]:
        tools = await call_next(context)
        granted = granted_scopes()
        if granted is None:
            return tools
        return [t for t in tools if may_call(t, granted)]
