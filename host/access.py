"""Who is calling the host's HTTP entry points (``/api/chat``, ``/api/sessions``,
``/invocations``), as the MCP servers decide it: a verified access token of the issuer with
scope ``concierge/chat``; no ``Authorization`` header at all is a visitor. Refusals are the
resource server's: ``401`` with a ``WWW-Authenticate`` naming the RFC 9728 metadata, ``403
insufficient_scope`` naming the scope, and the chat's own refusals in the same JSON shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastmcp.server.auth import AccessToken
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from servers.core.auth import NEEDS_ACCESS, CognitoAccessTokenVerifier, TokenRefused
from servers.core.errors import UNAVAILABLE
from servers.core.logs import current_request_id
from servers.core.scopes import CONCIERGE_CHAT

from .chats import (
    NO_MODEL,
    NOT_A_CUSTOMER,
    SESSION_NOT_FOUND,
    SIGN_IN_REQUIRED,
    ChatRefused,
    customer_from,
)
from .loop import Customer

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class Refusal(Exception):
    response: Response


def json_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def guarded(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` with any failure logged and answered ``500`` with the request id only:
    never the exception's text (what Starlette, or BedrockAgentCoreApp, would show)."""

    async def answer(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception:
            log.exception("%s failed (request id %s)", request.url.path, current_request_id())
            return json_error(
                500,
                "internal",
                f"Something went wrong on our side (request id {current_request_id()}).",
            )

    return answer


@dataclass
class Gate:
    verifier: CognitoAccessTokenVerifier
    metadata_url: str

    def unauthorized(self, description: str) -> Response:
        challenge = f'Bearer error="invalid_token", error_description="{description}", '
        if description == NEEDS_ACCESS:
            challenge = "Bearer "
        return JSONResponse(
            {"error": "invalid_token", "error_description": description},
            status_code=401,
            headers={"www-authenticate": f'{challenge}resource_metadata="{self.metadata_url}"'},
        )

    async def caller(self, request: Request) -> Customer | None:
        """The customer calling, or None for a visitor (no Authorization header); raises
        :class:`Refusal` for a token that is present but not good enough."""
        header = request.headers.get("authorization")
        if header is None:
            return None
        return await self.customer(header)

    async def customer(self, header: str) -> Customer:
        if header[:7].lower() != "bearer ":
            raise Refusal(self.unauthorized(NEEDS_ACCESS))
        token = header[7:].strip()
        try:
            access: AccessToken = await self.verifier.check(token)
        except TokenRefused as refused:
            raise Refusal(self.unauthorized(refused.description)) from None
        if CONCIERGE_CHAT not in access.scopes:
            raise Refusal(
                JSONResponse(
                    {
                        "error": "insufficient_scope",
                        "error_description": f"Required scope: {CONCIERGE_CHAT}",
                    },
                    status_code=403,
                    headers={
                        "www-authenticate": f'Bearer error="insufficient_scope", '
                        f'scope="{CONCIERGE_CHAT}", resource_metadata="{self.metadata_url}"'
                    },
                )
            )
        try:
            return customer_from(access, token)
        except ChatRefused as refused:
            raise Refusal(self.refused(refused)) from None

    def refused(self, refused: ChatRefused) -> Response:
        """A turn that could not start, as HTTP."""
        if refused.code == SIGN_IN_REQUIRED:
            return self.unauthorized(NEEDS_ACCESS)
        status, error = {
            NO_MODEL: (503, "no_model"),
            SESSION_NOT_FOUND: (404, "session_not_found"),
            NOT_A_CUSTOMER: (403, "not_a_customer"),
            UNAVAILABLE: (503, "unavailable"),
        }.get(refused.code, (400, "invalid_request"))
        return json_error(status, error, refused.message)
