"""The server factory: one way to build, expose and run every MCP server of the project."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import fastmcp
import uvicorn
import uvloop
from fastmcp import FastMCP
from fastmcp.exceptions import NotFoundError, ToolError, ValidationError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import Tool, ToolResult
from fastmcp.utilities.versions import VersionSpec
from mcp.server.lowlevel.server import NotificationOptions
from mcp.shared.exceptions import MCPError, UrlElicitationRequiredError
from mcp_types import INVALID_PARAMS, CallToolRequestParams, ToolAnnotations
from opentelemetry import trace
from pydantic import ValidationError as PydanticValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware as AsgiMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .auth import ScopeGate, SubjectResolver, build_auth
from .db import DatabaseUnavailable
from .errors import (
    INTERNAL,
    INVALID_ARGUMENT,
    UNAVAILABLE,
    UNKNOWN_TOOL,
    DomainError,
    split_code,
)
from .guard import remember_guard
from .limits import BodyLimit, RateLimit, http_protocol
from .listing import DereferencedOnce, ScopedListing, tool_scopes
from .logs import current_request_id, new_request_id, request_id_var
from .resource_metadata import MCP_PATH, resource_metadata_url
from .settings import ServerSettings

log = logging.getLogger(__name__)

HEALTH_PATH = "/health"

READ_ONLY = ToolAnnotations(
    readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False
)
"""Annotations of a tool that only reads."""

CREATES = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
)
"""A tool that adds something; safe to retry with the same idempotency key."""

UPDATES = ToolAnnotations(
    readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False
)
"""A tool that changes existing state; the same call twice leaves the same state."""


def requires(*scopes: str) -> dict[str, Any]:
    """Tool metadata naming the scopes that may call it (any one of them suffices)."""
    return {"scopes": list(scopes)}


HealthCheck = Callable[[], Awaitable[None]]

HEALTH_CHECK_TIMEOUT_SECONDS = 2.0


class Readiness:
    """A server's dependency check, run at most once per ``ttl_seconds`` however often
    ``GET /health`` is asked; callers in between (and callers during a check) get its outcome.

    ``/health`` needs no token, so its cost must not grow with the rate anyone asks it.
    """

    def __init__(
        self,
        check: HealthCheck,
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.check = check
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._lock = asyncio.Lock()
        self._checked_at: float | None = None
        self._ready = False

    async def ready(self) -> bool:
        if self._fresh():
            return self._ready
        async with self._lock:
            if not self._fresh():
                self._ready = await self._run()
                self._checked_at = self.clock()
        return self._ready

    def _fresh(self) -> bool:
        return self._checked_at is not None and self.clock() - self._checked_at < self.ttl_seconds

    async def _run(self) -> bool:
        try:
            await asyncio.wait_for(self.check(), HEALTH_CHECK_TIMEOUT_SECONDS)
        except Exception:
            log.warning("health check failed", exc_info=True)
            return False
        return True


class KitMCP(FastMCP):
    """FastMCP, finding a tool to call by name in a dict once the server is built.

    FastMCP resolves a ``tools/call`` by asking every provider, applying session transforms
    and reading visibility rules from its key-value store, about 220 µs of CPU on every call
    (bench/README.md). Our servers register their tools once, before
    :func:`build_http_app`, and use none of that: no transforms, visibility rules or
    component auth (scopes are the kit's :class:`~servers.core.auth.ScopeGate`). A name the
    dict does not hold, or a call asking for a version, still goes FastMCP's way.
    ``tests/core/test_fastmcp_pins.py`` checks the dict answers what FastMCP would.
    """

    _built_tools: dict[str, Tool] | None = None

    def freeze_tools(self, tools: Sequence[Tool]) -> None:
        """Serve ``tools`` (the server's listing once built) by name from now on."""
        self._built_tools = {tool.name: tool for tool in tools}

    async def get_tool(self, name: str, version: VersionSpec | None = None) -> Tool | None:
        if version is None and self._built_tools is not None:
            tool = self._built_tools.get(name)
            if tool is not None:
                return tool
        return await super().get_tool(name, version)


def create_mcp(name: str, *, instructions: str, version: str = "0.1.0") -> KitMCP:
    """A FastMCP server with the kit's error mapping; tools are added by the caller."""
    mcp = KitMCP(
        name,
        instructions=instructions,
        version=version,
        mask_error_details=True,
        # FastMCP's own would inline every schema's $refs again on each listing.
        dereference_schemas=False,
        middleware=[ErrorMapping(), ScopedListing(), DereferencedOnce()],
    )
    # Served stateless with one JSON response per request, so no stream ever carries a
    # notification: advertise neither listChanged nor logging (capabilities follow handlers).
    mcp._mcp_server.notification_options = NotificationOptions()
    del mcp._mcp_server._request_handlers["logging/setLevel"]
    return mcp


class ErrorMapping(Middleware):
    """Turns every failure of a tool call into a ``CODE: message`` tool error (an unknown tool
    into a ``CODE: message`` JSON-RPC error, as MCP asks).

    Domain errors keep their code; bad arguments become ``INVALID_ARGUMENT``; anything else is
    logged with its traceback and answered ``INTERNAL`` with only the request id.
    """

    async def on_call_tool(
        self,
        context: MiddlewareContext[CallToolRequestParams],
        call_next: CallNext[CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        if request_id_var.get() is None:
            request_id_var.set(new_request_id())
        tool = context.message.name
        try:
            return await call_next(context)
        except ToolError as exc:
            raise _map(tool, exc.__cause__ or exc) from None
        except Exception as exc:
            raise _map(tool, exc) from None


def _map(tool: str, exc: BaseException) -> ToolError | MCPError:
    if isinstance(exc, DomainError):
        log.info("tool %s refused: %s", tool, exc.code)
        return ToolError(str(exc))
    if isinstance(exc, ValidationError) and isinstance(exc.__cause__, PydanticValidationError):
        return ToolError(f"{INVALID_ARGUMENT}: {describe_validation(exc.__cause__)}")
    if isinstance(exc, PydanticValidationError):
        return ToolError(f"{INVALID_ARGUMENT}: {describe_validation(exc)}")
    if isinstance(exc, UrlElicitationRequiredError):
        return exc  # a protocol answer (-32042) the client acts on, not a failure
    if isinstance(exc, NotFoundError):
        # MCP answers an unknown tool with JSON-RPC error -32602, not with a tool result.
        return MCPError(INVALID_PARAMS, f"{UNKNOWN_TOOL}: there is no tool named {tool!r}")
    if isinstance(exc, ToolError) and exc.__cause__ is None and split_code(str(exc)):
        return exc
    rid = current_request_id()
    if isinstance(exc, DatabaseUnavailable):
        log.error("tool %s: database unavailable", tool, exc_info=exc)
        return ToolError(
            f"{UNAVAILABLE}: the database cannot be reached right now; try again shortly "
            f"(request id {rid})"
        )
    log.error("tool %s failed", tool, exc_info=exc)
    return ToolError(f"{INTERNAL}: the server could not complete {tool} (request id {rid})")


def describe_validation(error: PydanticValidationError, *, limit: int = 5) -> str:
    """A short, human message for bad arguments; never echoes the (maybe huge) input."""
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:limit]:
        where = ".".join(str(p) for p in item["loc"])[:80] or "arguments"
        message = item["msg"]
        if item["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            message = "unknown argument"
        elif item["type"] == "missing_argument":
            message = "required argument is missing"
        parts.append(f"{where}: {message}")
    more = error.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


class RequestIdMiddleware:
    """Gives each HTTP request an id (or keeps a well-formed ``X-Request-ID``) for the logs."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if 8 <= len(incoming) <= 64 and incoming.isalnum() else new_request_id()
        token = request_id_var.set(rid)

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


async def build_http_app(
    mcp: KitMCP,
    settings: ServerSettings,
    *,
    resource: str,
    scopes: Sequence[str],
    health: HealthCheck,
    subjects: SubjectResolver | None = None,
) -> ASGIApp:
    """The ASGI app of a server: ``/mcp`` behind OAuth, ``/health``, RFC 9728 metadata.

    Call it once the server's tools are registered: their scopes and input schemas are read
    here, once, rather than on every request. ``subjects`` maps users' token subjects to this
    suite's ids (see :data:`~servers.core.auth.SubjectResolver`).
    """
    mcp.auth = build_auth(
        issuer=settings.issuer,
        jwks_uri=settings.jwks_url,
        resource=resource,
        scopes=scopes,
        base_url=settings.base_url,
        mcp_path=MCP_PATH,
        name=mcp.name,
        service_client_ids=settings.auth_service_client_ids,
        client_ids=settings.auth_client_ids,
        authorization_servers=settings.authorization_servers,
        subjects=subjects,
    )

    readiness = Readiness(health, ttl_seconds=settings.health_cache_seconds)

    async def health_route(request: Request) -> JSONResponse:
        if not await readiness.ready():
            return JSONResponse({"status": "unavailable", "service": mcp.name}, status_code=503)
        return JSONResponse({"status": "ok", "service": mcp.name})

    mcp.custom_route(HEALTH_PATH, methods=["GET"])(health_route)
    tools = await mcp.list_tools()
    scopes_of = {t.name: tool_scopes(t) for t in tools}
    schemas = {t.name: t.parameters for t in tools}
    # Without this lookup the MCP SDK lists every tool on each tools/call to check Mcp-Param
    # headers (protocol 2026-07-28), which tripled the CPU cost of a call (bench/README.md).
    # FastMCP 4.1.6 does not provide it; the tools of our servers are fixed once built.
    mcp._mcp_server.get_tool_input_schema = schemas.get
    mcp.freeze_tools(tools)

    async def scopes_by_name(name: str) -> tuple[str, ...] | None:
        return scopes_of.get(name)

    gate = AsgiMiddleware(
        ScopeGate,
        path=MCP_PATH,
        tool_scopes=scopes_by_name,
        resource_metadata_url=resource_metadata_url(settings.base_url, MCP_PATH),
    )
    # After authentication (FastMCP puts its own first), so a caller is known by its token.
    rate = AsgiMiddleware(
        RateLimit,
        per_second=settings.rate_limit_per_second,
        burst=settings.rate_limit_burst,
        exempt_clients=settings.rate_limit_exempt_clients,
        exempt_paths=[HEALTH_PATH],
    )
    app: Starlette = mcp.http_app(
        path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        middleware=[rate, gate],
        host_origin_protection="auto",
        allowed_origins=list(settings.allowed_origins),
    )
    outer: ASGIApp = BodyLimit(
        remember_guard(app),
        max_bytes=settings.max_body_bytes,
        timeout_seconds=settings.body_timeout_seconds,
    )
    if settings.allowed_origins:
        outer = CORSMiddleware(
            outer,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            # Protocol 2026-07-28 adds per-call headers (Mcp-Method, Mcp-Name, Mcp-Param-<arg>)
            # whose names depend on the tool; with origins on an allow-list and no cookies,
            # echoing the requested headers is safe.
            allow_headers=["*"],
            expose_headers=["www-authenticate", "x-request-id"],
            allow_credentials=False,
        )
    return RequestIdMiddleware(outer)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a server's ``main`` to completion on uvloop: its event loop costs a fraction of
    asyncio's per request, and every tool call here is a few short awaits on sockets."""
    uvloop.run(main())


def spans_without_tracing() -> None:
    """Stop FastMCP opening a span per call when no OpenTelemetry SDK is configured.

    Without an SDK (a tracer provider set by the process or by ``opentelemetry-instrument``) the
    spans are no-ops that still cost 40-60 µs of a tool call; ``propagation_only`` drops them
    but keeps passing an incoming trace context on to the servers we call.
    """
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        fastmcp.settings.telemetry_mode = "propagation_only"


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets)
        # Everything alive now (modules, the app, pools) lives as long as the process: moving
        # it out of the collector's generations means each collection walks only what requests
        # allocate, about 130-160 µs less CPU per tool call (bench/README.md).
        gc.collect()
        gc.freeze()


async def serve(app: ASGIApp, settings: ServerSettings) -> None:
    """Run an app with uvicorn until SIGINT/SIGTERM, with the connection limits of
    ``settings``."""
    spans_without_tracing()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=http_protocol(settings.header_timeout_seconds),
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=settings.keep_alive_seconds,
        limit_concurrency=settings.max_concurrency,
    )
    await _Server(config).serve()
