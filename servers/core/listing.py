"""What ``tools/list`` shows a caller: only the tools its token's scopes let it call, with
their schemas self-contained.

A client (and the model behind it) then sees exactly what it may use: a customer's assistant is
never shown the operators' tools and their ``customer_id`` argument. Calling a tool that is not
listed is still refused by :class:`~servers.core.auth.ScopeGate` (``403 insufficient_scope``);
both read a tool's scopes from the same place, :func:`tool_scopes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from fastmcp.resources.template import ResourceTemplate
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.server.middleware.dereference import (
    _dereference_resource_template,
    _dereference_tool,
)
from fastmcp.tools.base import Tool
from mcp_types import ListResourceTemplatesRequest, ListToolsRequest

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


Listed = TypeVar("Listed", Tool, ResourceTemplate)


class DereferencedOnce(Middleware):
    """FastMCP's ``DereferenceRefsMiddleware`` (schemas with every ``$ref`` inlined, which some
    clients need), each tool's and template's schemas inlined once instead of on every listing.

    FastMCP inlines them again for every ``tools/list``: 15-25 ms of CPU for the data server's
    27 tools, three quarters of the listing (bench/README.md). Our servers' tools are fixed
    once built, so each one's inlined copy is kept, by the tool object it was made from (a
    tool replaced since gets a copy of its own). ``tests/core/test_fastmcp_pins.py`` checks the
    copies are FastMCP's."""

    def __init__(self) -> None:
        self._tools: dict[int, tuple[Tool, Tool]] = {}
        self._templates: dict[int, tuple[ResourceTemplate, ResourceTemplate]] = {}

    async def on_list_tools(
        self,
        context: MiddlewareContext[ListToolsRequest],
        call_next: CallNext[ListToolsRequest, Sequence[Tool]],
    ) -> Sequence[Tool]:
        return [_once(self._tools, t, _dereference_tool) for t in await call_next(context)]

    async def on_list_resource_templates(
        self,
        context: MiddlewareContext[ListResourceTemplatesRequest],
        call_next: CallNext[ListResourceTemplatesRequest, Sequence[ResourceTemplate]],
    ) -> Sequence[ResourceTemplate]:
        return [
            _once(self._templates, t, _dereference_resource_template)
            for t in await call_next(context)
        ]


def _once(
    made: dict[int, tuple[Listed, Listed]], component: Listed, make: Callable[[Listed], Listed]
) -> Listed:
    # Keyed by id() with the component kept beside its copy, so an id reused by another
    # object after this one is gone is told apart.
    kept = made.get(id(component))
    if kept is None or kept[0] is not component:
        kept = made[id(component)] = (component, make(component))
    return kept[1]
