"""The host's HTTP entry points on one port: ``POST /api/chat`` (SSE) and
``GET /api/sessions/{id}``, behind the same resource-server auth as the MCP servers (scope
``concierge/chat``; a chat with no token at all is a visitor's, :mod:`host.visitors`), plus
``/health``, the RFC 9728 metadata of the chat API, AgentCore's ``/invocations`` and ``/ping``
(:mod:`host.agentcore`) and the ``ask_concierge`` MCP endpoint (:mod:`host.mcp_endpoint`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from servers.core.app import RequestIdMiddleware, describe_validation
from servers.core.auth import CognitoAccessTokenVerifier
from servers.core.limits import BodyLimit
from servers.core.scopes import CONCIERGE_CHAT

from .access import Gate, Refusal, guarded, json_error
from .agentcore import AgentCoreEntry
from .chats import ChatRefused, Chats, Visitors
from .loop import Concierge
from .mcp_endpoint import beside
from .memory.base import MemoryStore
from .settings import HostSettings
from .sse import sse_response

log = logging.getLogger(__name__)

RESOURCE = "concierge"
CHAT_PATH = "/api/chat"
METADATA_PATH = "/.well-known/oauth-protected-resource/api"
MAX_MESSAGE_CHARS = 4000


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)]
    session_id: Annotated[str | None, Field(max_length=64)] = None
    context: dict[str, Any] | None = None


def build_app(
    settings: HostSettings,
    *,
    memory: MemoryStore,
    concierge: Concierge | None,
    health: Callable[[], Awaitable[None]],
    verifier: CognitoAccessTokenVerifier | None = None,
    web: ASGIApp | None = None,
    visitors: Visitors | None = None,
    mcp: ASGIApp | None = None,
) -> ASGIApp:
    """The ASGI app; ``concierge`` None means no model is configured (chat answers 503).
    ``visitors`` None: a chat without a token is 401. ``mcp`` (:mod:`host.mcp_endpoint`)
    serves ``/mcp``; ``web`` (the built web app, :mod:`host.webapp`) every other path."""
    verifier = verifier or CognitoAccessTokenVerifier(
        issuer=settings.issuer,
        jwks_uri=settings.jwks_url,
        resource=RESOURCE,
        base_url=settings.base_url,
        service_client_ids=settings.auth_service_client_ids,
        client_ids=settings.auth_client_ids,
    )
    gate = Gate(verifier, f"{settings.base_url}{METADATA_PATH}")
    chats = Chats(memory, concierge, visitors)

    async def chat(request: Request) -> Response:
        try:
            customer = await gate.caller(request)
        except Refusal as refusal:
            return refusal.response
        try:
            body = ChatRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return json_error(400, "invalid_request", describe_validation(exc))
        try:
            stream = await chats.turn(
                customer, body.message, session_id=body.session_id, context=body.context
            )
        except ChatRefused as refused:
            return gate.refused(refused)
        return sse_response(stream)

    async def session_history(request: Request) -> Response:
        try:
            customer = await gate.customer(request.headers.get("authorization", ""))
        except Refusal as refusal:
            return refusal.response
        session = await memory.session(customer.customer_id, request.path_params["session_id"])
        if session is None:
            return json_error(404, "session_not_found", "There is no such session.")
        return JSONResponse(
            {
                "session_id": session.session_id,
                "created_at": session.created_at.isoformat(),
                "events": await memory.events(session),
            }
        )

    async def metadata(request: Request) -> Response:
        return JSONResponse(
            {
                "resource": f"{settings.base_url}/api",
                "authorization_servers": [settings.issuer],
                "scopes_supported": [CONCIERGE_CHAT],
                "bearer_methods_supported": ["header"],
                "resource_name": "Concierge chat",
            }
        )

    async def health_route(request: Request) -> Response:
        try:
            await health()
        except Exception:
            log.warning("health check failed", exc_info=True)
            return JSONResponse({"status": "unavailable", "service": "host"}, status_code=503)
        return JSONResponse({"status": "ok", "service": "host"})

    entry = AgentCoreEntry(chats, gate)
    routes: list[BaseRoute] = [
        Route(CHAT_PATH, guarded(chat), methods=["POST"]),
        Route("/api/sessions/{session_id}", guarded(session_history), methods=["GET"]),
        Route(METADATA_PATH, metadata, methods=["GET"]),
        Route("/health", health_route, methods=["GET"]),
        *entry.routes(),
    ]
    if web is not None:
        routes.append(Mount("/", app=web))
    app = Starlette(routes=routes)
    limited = BodyLimit(
        app, max_bytes=settings.max_body_bytes, timeout_seconds=settings.body_timeout_seconds
    )
    rest = RequestIdMiddleware(limited)
    return rest if mcp is None else beside(mcp, rest)
