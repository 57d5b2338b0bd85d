"""The host's HTTP entry points on one port: ``POST /api/chat`` (SSE) and
``GET /api/sessions/{id}``, behind the same resource-server auth as the MCP servers (scope
``concierge/chat``), plus ``/health`` and the RFC 9728 metadata of the chat API."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastmcp.server.auth import AccessToken
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from servers.core.app import RequestIdMiddleware, describe_validation
from servers.core.auth import (
    NEEDS_ACCESS,
    CognitoAccessTokenVerifier,
    Principal,
    TokenRefused,
)
from servers.core.limits import BodyLimit
from servers.core.scopes import CONCIERGE_CHAT

from .loop import Concierge, Customer
from .memory.base import MemoryStore
from .settings import MODEL_SETTINGS, HostSettings

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


@dataclass
class _Refusal(Exception):
    response: Response


def build_app(
    settings: HostSettings,
    *,
    memory: MemoryStore,
    concierge: Concierge | None,
    health: Callable[[], Awaitable[None]],
    verifier: CognitoAccessTokenVerifier | None = None,
    web: ASGIApp | None = None,
) -> ASGIApp:
    """The ASGI app; ``concierge`` None means no model is configured (chat answers 503).
    ``web`` (the built web app, :mod:`host.webapp`) answers every other path."""
    verifier = verifier or CognitoAccessTokenVerifier(
        issuer=settings.issuer,
        jwks_uri=settings.jwks_url,
        resource=RESOURCE,
        base_url=settings.base_url,
        service_client_ids=settings.auth_service_client_ids,
        client_ids=settings.auth_client_ids,
    )
    metadata_url = f"{settings.base_url}{METADATA_PATH}"

    def unauthorized(description: str) -> Response:
        challenge = f'Bearer error="invalid_token", error_description="{description}", '
        if description == NEEDS_ACCESS:
            challenge = "Bearer "
        return JSONResponse(
            {"error": "invalid_token", "error_description": description},
            status_code=401,
            headers={"www-authenticate": f'{challenge}resource_metadata="{metadata_url}"'},
        )

    async def customer_of(request: Request) -> Customer:
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer ":
            raise _Refusal(unauthorized(NEEDS_ACCESS))
        token = header[7:].strip()
        try:
            access: AccessToken = await verifier.check(token)
        except TokenRefused as refused:
            raise _Refusal(unauthorized(refused.description)) from None
        if CONCIERGE_CHAT not in access.scopes:
            raise _Refusal(
                JSONResponse(
                    {
                        "error": "insufficient_scope",
                        "error_description": f"Required scope: {CONCIERGE_CHAT}",
                    },
                    status_code=403,
                    headers={
                        "www-authenticate": f'Bearer error="insufficient_scope", '
                        f'scope="{CONCIERGE_CHAT}", resource_metadata="{metadata_url}"'
                    },
                )
            )
        claims = access.claims
        customer_id = Principal(str(claims.get("client_id")), claims.get("sub")).customer_id
        if customer_id is None:
            raise _Refusal(
                _json_error(403, "not_a_customer", "The concierge answers customers' tokens.")
            )
        return Customer(customer_id, token, frozenset(access.scopes))

    async def chat(request: Request) -> Response:
        try:
            customer = await customer_of(request)
        except _Refusal as refusal:
            return refusal.response
        try:
            body = ChatRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return _json_error(400, "invalid_request", describe_validation(exc))
        if concierge is None:
            return _json_error(
                503,
                "no_model",
                "No language model is configured for the concierge; set "
                + ", ".join(MODEL_SETTINGS)
                + ". Every structured flow (the MCP servers' tools) works without one.",
            )
        if body.session_id is None:
            session = await memory.new_session(customer.customer_id)
        else:
            found = await memory.session(customer.customer_id, body.session_id)
            if found is None:
                return _json_error(404, "session_not_found", "There is no such session.")
            session = found
        stream = concierge.turn(customer, session, body.message, body.context)
        return StreamingResponse(
            _sse(stream),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def session_history(request: Request) -> Response:
        try:
            customer = await customer_of(request)
        except _Refusal as refusal:
            return refusal.response
        session = await memory.session(customer.customer_id, request.path_params["session_id"])
        if session is None:
            return _json_error(404, "session_not_found", "There is no such session.")
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

    routes: list[BaseRoute] = [
        Route(CHAT_PATH, chat, methods=["POST"]),
        Route("/api/sessions/{session_id}", session_history, methods=["GET"]),
        Route(METADATA_PATH, metadata, methods=["GET"]),
        Route("/health", health_route, methods=["GET"]),
    ]
    if web is not None:
        routes.append(Mount("/", app=web))
    app = Starlette(routes=routes)
    limited = BodyLimit(
        app, max_bytes=settings.max_body_bytes, timeout_seconds=settings.body_timeout_seconds
    )
    return RequestIdMiddleware(limited)


def _json_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


async def _sse(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for event in stream:
        yield f"data: {json.dumps(event, default=str)}\n\n".encode()
