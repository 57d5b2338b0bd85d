"""A TEST-ONLY reverse proxy that adds ``Authorization: Bearer <token>`` to every request.

The MCP conformance suite's server mode connects with nothing but a URL and cannot send a token,
and the servers have (rightly) no switch that turns authentication off. So the suite talks to
this proxy, which forwards each request unchanged to one server with a token minted for that
server's scopes. ``Host`` and ``Origin`` are forwarded as the client sent them, so the server's
own DNS-rebinding protection still judges what the suite sends.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ticketing.procs import free_port

HOST = "127.0.0.1"
START_TIMEOUT = 30.0

# Hop-by-hop headers (RFC 9110 §7.6.1) and those the proxy recomputes; ``authorization`` is
# replaced by the proxy's own.
_DROPPED_REQUEST = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "authorization",
}
_DROPPED_RESPONSE = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
}


def proxy_app(upstream: str, token: str) -> Starlette:
    """An app forwarding every method and path to ``upstream`` with the bearer token added."""
    client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal client
        async with httpx.AsyncClient(base_url=upstream, timeout=60.0) as http:
            client = http
            yield

    async def forward(request: Request) -> Response:
        assert client is not None
        headers = [
            (name, value) for name, value in request.headers.items() if name not in _DROPPED_REQUEST
        ]
        headers.append(("authorization", f"Bearer {token}"))
        answer = await client.request(
            request.method,
            request.url.path,
            params=request.url.query,
            headers=headers,
            content=await request.body(),
        )
        return Response(
            answer.content,
            status_code=answer.status_code,
            headers={k: v for k, v in answer.headers.items() if k not in _DROPPED_RESPONSE},
        )

    methods = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)], lifespan=lifespan)


@contextmanager
def token_proxy(upstream: str, token: str) -> Iterator[str]:
    """Runs the proxy on a free loopback port in a thread of its own; yields its base URL."""
    port = free_port(HOST)
    config = uvicorn.Config(
        proxy_app(upstream, token),
        host=HOST,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        if not _wait_started(server, thread):
            raise RuntimeError(f"the token proxy to {upstream} did not start")
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> bool:
    """Whether uvicorn is listening; it sets ``started`` but offers nothing to wait on."""
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.started


def main() -> None:
    """By hand, in front of a server of ``make run``; the token comes from the environment so
    that it stays out of the process list."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("upstream", help="the server's base URL, e.g. http://127.0.0.1:8001")
    parser.add_argument("--port", type=int, default=8101, help="where the proxy listens")
    args = parser.parse_args()
    token = os.environ.get("MCP_TOKEN")
    if not token:
        parser.error("set MCP_TOKEN to an access token for the server's scopes")
    print(f"proxy on http://{HOST}:{args.port}/mcp -> {args.upstream}/mcp (Ctrl-C stops it)")
    uvicorn.run(proxy_app(args.upstream, token), host=HOST, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
