"""The two baselines the data server is compared with, each run as its own uvicorn process.

``python -m bench.baselines {starlette,mcp} PORT`` serves, on ``127.0.0.1:PORT``:

* ``starlette``: a plain Starlette app whose ``POST /mcp`` parses the JSON-RPC body and answers a
  ``tools/call``-shaped result holding a fixed, ticket-shaped dict. No MCP, no auth, no database:
  the floor of "Python ASGI server answering a small JSON POST".
* ``mcp``: the bare ``mcp`` SDK (its ``MCPServer``, not the fastmcp package) with one tool
  ``get_ticket`` returning the same dict, streamable HTTP, stateless, JSON responses, no auth, no
  database: what the MCP protocol layer costs on top of the Starlette floor.

Both answer ``GET /health`` and run uvicorn as the data server does (``servers.core.app.serve``:
default loop and HTTP implementation, no access log, lifespan on).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

TICKET: dict[str, Any] = {
    "ticket_number": "TKT-JD0001",
    "customer_id": "cus_bench00000000000000000000000",
    "ticket_type": "general",
    "status": "active",
    "visit_date": "2030-01-10",
    "upgrade_tier": None,
    "original_price_cents": 4900,
    "currency": "USD",
    "metadata": {},
    "created_at": "2030-01-01T00:00:00Z",
    "updated_at": "2030-01-01T00:00:00Z",
}
"""The shape of ``servers.data.models.Ticket`` as the data server serialises it."""


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def starlette_app() -> ASGIApp:
    """Plain Starlette: one JSON endpoint answering a tools/call-shaped JSON-RPC result."""

    async def call(request: Request) -> Response:
        body = json.loads(await request.body())
        result = {
            "content": [{"type": "text", "text": json.dumps(TICKET)}],
            "structuredContent": TICKET,
            "isError": False,
        }
        return JSONResponse({"jsonrpc": "2.0", "id": body.get("id"), "result": result})

    return Starlette(
        routes=[Route("/mcp", call, methods=["POST"]), Route("/health", _health, methods=["GET"])]
    )


def bare_mcp_app() -> ASGIApp:
    """The mcp SDK's own server: one tool, stateless streamable HTTP with JSON responses."""
    # WARNING: at INFO the SDK logs a line per stateless request, which the data server's
    # logging setup also silences (servers.core.logs).
    server: MCPServer[Any] = MCPServer("bench-bare-mcp", log_level="WARNING")

    @server.tool()
    async def get_ticket(ticket_number: str) -> dict[str, Any]:
        """Get one ticket."""
        return {**TICKET, "ticket_number": ticket_number}

    server.custom_route("/health", methods=["GET"])(_health)
    return server.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True
    )


APPS = {"starlette": starlette_app, "mcp": bare_mcp_app}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in APPS or not argv[1].isdigit():
        print(f"usage: python -m bench.baselines {{{','.join(APPS)}}} PORT", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    config = uvicorn.Config(
        APPS[argv[0]](),
        host="127.0.0.1",
        port=int(argv[1]),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
