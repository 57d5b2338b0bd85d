"""Public prices for visitors who are not signed in: ``POST /api/catalogue/{tool}`` with the
tool's arguments as a JSON object, for the ticket server's two catalogue tools
(``get_price_calendar``, ``quote_price``). A browser with no sign-in has no token to call the
ticket server with, so the app's server calls it with its own client-credentials token, whose
only scope is ``tickets/catalogue``: public prices, nothing about any customer.

The answer is the tool's structured result, or ``{"error": "CODE: message"}`` as the tool
refused it (400), or ``UNAVAILABLE`` (503). Only the two tools and their own arguments pass;
each visitor (peer address) has a rate limit of its own, since every visitor's call spends the
one service token's budget at the ticket server.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from servers.core.client import RemoteProtocolError, RemoteUnavailable, ToolCaller
from servers.core.errors import (
    INTERNAL,
    INVALID_ARGUMENT,
    NOT_FOUND,
    UNAVAILABLE,
    DomainError,
)
from servers.core.limits import RateLimit

log = logging.getLogger(__name__)

CATALOGUE_PATH: Final = "/api/catalogue"
PUBLIC_TOOLS: Final[dict[str, frozenset[str]]] = {
    "get_price_calendar": frozenset({"ticket_type", "tier", "start_date", "end_date"}),
    "quote_price": frozenset({"ticket_type", "tier", "date"}),
}
"""The tools a visitor may call, each with the arguments it takes (all strings)."""
MAX_BODY_BYTES: Final = 1024
VISITOR_PER_SECOND: Final = 5.0
VISITOR_BURST: Final = 20


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": f"{code}: {message}"}, status_code=status)


def public_arguments(tool: str, body: bytes) -> dict[str, str]:
    """The call's arguments: a JSON object of strings, only the ones ``tool`` takes."""
    allowed = PUBLIC_TOOLS[tool]
    if len(body) > MAX_BODY_BYTES:
        raise DomainError(INVALID_ARGUMENT, f"the arguments exceed {MAX_BODY_BYTES} bytes")
    try:
        parsed: Any = json.loads(body or b"{}")
    except ValueError:
        raise DomainError(INVALID_ARGUMENT, "the body is not JSON") from None
    if not isinstance(parsed, dict):
        raise DomainError(INVALID_ARGUMENT, "the body is not a JSON object")
    unknown = sorted(str(key) for key in parsed if key not in allowed)
    if unknown:
        raise DomainError(INVALID_ARGUMENT, f"{tool} takes no {', '.join(unknown)}")
    if not all(isinstance(value, str) for value in parsed.values()):
        raise DomainError(INVALID_ARGUMENT, "every argument is a string")
    return {str(key): str(value) for key, value in parsed.items()}


def catalogue_app(
    catalogue: ToolCaller | None, *, clock: Callable[[], float] = time.monotonic
) -> ASGIApp:
    """The public catalogue route, to mount at :data:`CATALOGUE_PATH`; without a ``catalogue``
    client (no client secret configured) it answers ``UNAVAILABLE`` saying so. ``clock`` is
    the per-visitor limit's."""

    async def call(request: Request) -> Response:
        tool = request.path_params["tool"]
        if tool not in PUBLIC_TOOLS:
            return _error(404, NOT_FOUND, f"there is no public tool named {tool!r}")
        if catalogue is None:
            return _error(503, UNAVAILABLE, "public prices are not configured on this server")
        try:
            arguments = public_arguments(tool, await request.body())
            return JSONResponse(await catalogue.call(tool, arguments))
        except RemoteUnavailable as unavailable:
            return _error(503, UNAVAILABLE, unavailable.message)
        except DomainError as refused:
            return _error(400, refused.code, refused.message)
        except RemoteProtocolError:
            log.exception("the ticket server's answer to %s was not a tool result", tool)
            return _error(502, INTERNAL, "the price service answered unexpectedly; try again")

    app = Starlette(routes=[Route("/{tool}", call, methods=["POST"])])
    return RateLimit(app, per_second=VISITOR_PER_SECOND, burst=VISITOR_BURST, clock=clock)
