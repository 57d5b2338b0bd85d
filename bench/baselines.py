"""The baselines the data server is compared with, each run as its own uvicorn process.

``python -m bench.baselines {starlette,mcp,fastmcp,kit} PORT`` serves, on ``127.0.0.1:PORT``:

* ``starlette``: a plain Starlette app whose ``POST /mcp`` parses the JSON-RPC body and answers a
  ``tools/call``-shaped result holding a fixed, ticket-shaped dict. No MCP, no auth, no database:
  the floor of "Python ASGI server answering a small JSON POST".
* ``mcp``: the bare ``mcp`` SDK (its ``MCPServer``, not the fastmcp package) with one tool
  ``get_ticket`` returning the same dict, streamable HTTP, stateless, JSON responses, no auth, no
  database: what the MCP protocol layer costs on top of the Starlette floor.
* ``fastmcp``: plain FastMCP (``FastMCP`` with its defaults) with the same tool, stateless, JSON
  responses, no auth, no database: the framework a team would otherwise pick, as it comes.
* ``kit``: our kit (``servers.core.app``: ``create_mcp``, ``build_http_app``, ``serve``) with the
  same tool behind everything a server of ours has: the bearer token checked against the dev
  identity provider, the scope gate, rate limit, body limit, request ids, error mapping, CORS.
  Settings from ``KIT_*`` and ``DEV_MODE`` as any server's. The same tool in all three MCP
  baselines, so the difference between them is the framework and the kit, nothing else.

All four answer ``GET /health`` and run uvicorn as the data server does (``servers.core.app.serve``:
default loop and HTTP implementation, no access log, lifespan on).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import uvicorn
from fastmcp import FastMCP
from mcp.server.mcpserver import MCPServer
from pydantic_settings import SettingsConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from servers.core.app import build_http_app, create_mcp, requires, run, serve
from servers.core.logs import configure_logging
from servers.core.scopes import DATA_READ
from servers.core.settings import ServerSettings, load_settings

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


def plain_fastmcp_app() -> ASGIApp:
    """FastMCP as it comes: one tool, stateless streamable HTTP with JSON responses, no auth."""
    server = FastMCP("bench-fastmcp")

    @server.tool
    async def get_ticket(ticket_number: str) -> dict[str, Any]:
        """Get one ticket."""
        return {**TICKET, "ticket_number": ticket_number}

    server.custom_route("/health", methods=["GET"])(_health)
    return server.http_app(path="/mcp", stateless_http=True, json_response=True)


class KitSettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="KIT_")


async def serve_kit(port: int) -> None:
    """The kit's server around the same tool, served as every server of ours is."""
    settings = load_settings(KitSettings).model_copy(update={"port": port})
    configure_logging(settings.log_level, service="kit")
    mcp = create_mcp("bench-kit", instructions="One tool, for benchmarks.")

    @mcp.tool(meta=requires(DATA_READ))
    async def get_ticket(ticket_number: str) -> dict[str, Any]:
        """Get one ticket."""
        return {**TICKET, "ticket_number": ticket_number}

    async def healthy() -> None:
        return None

    app = await build_http_app(mcp, settings, resource="data", scopes=(DATA_READ,), health=healthy)
    await serve(app, settings)


APPS = {"starlette": starlette_app, "mcp": bare_mcp_app, "fastmcp": plain_fastmcp_app}


def main(argv: list[str]) -> int:
    names = [*APPS, "kit"]
    if len(argv) != 2 or argv[0] not in names or not argv[1].isdigit():
        print(f"usage: python -m bench.baselines {{{','.join(names)}}} PORT", file=sys.stderr)
        return 2
    if argv[0] == "kit":
        run(lambda: serve_kit(int(argv[1])))
        return 0
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
