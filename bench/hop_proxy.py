"""A reverse proxy that counts and delays the calls one server makes to the others.

``python -m bench.hop_proxy --control PORT --route NAME=PORT=URL [--route ...]``

bench_journey puts it between the ticket server and the data, payment and notify servers (the
ticket server's ``TICKET_*_URL`` settings point at it), so that no production code knows it is
measured. Every request to a route's port is forwarded to its URL, unchanged, after the route's
delay: a stand-in for the front door each internal hop crosses in AWS (tens of ms). Each MCP
``tools/call`` (the ``Mcp-Method`` header every caller of the kit sends) counts as one hop of
that route, by tool name (``Mcp-Name``).

The control port answers ``GET /hops`` with the counts so far, ``{"data": {"get_ticket": 3}}``,
and ``PUT /delay`` with ``{"ms": 20}`` sets the delay of every route from then on.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections import Counter
from dataclasses import dataclass, field

import uvloop
from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

HOST = "127.0.0.1"
# Hop-by-hop headers and the ones aiohttp sets itself from the body it sends.
_NOT_FORWARDED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}
)


@dataclass
class Proxy:
    delay_seconds: float = 0.0
    hops: dict[str, Counter[str]] = field(default_factory=dict)

    def route(self, name: str, target: str, http: ClientSession) -> web.Application:
        """The app of one route: every request forwarded to ``target`` (an origin URL)."""
        counts = self.hops.setdefault(name, Counter())
        target = target.rstrip("/")

        async def forward(request: web.Request) -> web.Response:
            if request.headers.get("Mcp-Method") == "tools/call":
                counts[request.headers.get("Mcp-Name", "?")] += 1
            body = await request.read()
            if self.delay_seconds > 0:
                await asyncio.sleep(self.delay_seconds)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
            async with http.request(
                request.method, target + request.path_qs, headers=headers, data=body
            ) as answer:
                payload = await answer.read()
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in _NOT_FORWARDED}
                return web.Response(status=answer.status, headers=kept, body=payload)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        return app

    def control(self) -> web.Application:
        async def hops(request: web.Request) -> web.Response:
            return web.json_response({name: dict(c) for name, c in self.hops.items()})

        async def delay(request: web.Request) -> web.Response:
            ms = (await request.json())["ms"]
            if not isinstance(ms, int | float) or ms < 0:
                raise web.HTTPBadRequest(text="ms: a number >= 0")
            self.delay_seconds = ms / 1000
            return web.json_response({"ms": ms})

        app = web.Application()
        app.router.add_get("/hops", hops)
        app.router.add_put("/delay", delay)
        return app


def parse_route(text: str) -> tuple[str, int, str]:
    name, port, url = text.split("=", 2)
    return name, int(port), url


async def serve(control_port: int, routes: list[tuple[str, int, str]]) -> None:
    proxy = Proxy()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # No pool limit and no decompression: what the ticket server sends and gets, unchanged.
    async with ClientSession(
        connector=TCPConnector(limit=0),
        timeout=ClientTimeout(total=120.0),
        auto_decompress=False,
        trust_env=False,
    ) as http:
        apps = [(proxy.control(), control_port)]
        apps += [(proxy.route(name, url, http), port) for name, port, url in routes]
        runners = []
        try:
            for app, port in apps:
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                runners.append(runner)
                await web.TCPSite(runner, HOST, port).start()
            print("hop proxy ready", flush=True)
            await stop.wait()
        finally:
            for runner in runners:
                await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hop_proxy", description=__doc__)
    parser.add_argument("--control", type=int, required=True, help="port of GET /hops, PUT /delay")
    parser.add_argument(
        "--route", action="append", type=parse_route, default=[], help="NAME=PORT=TARGET_URL"
    )
    args = parser.parse_args(argv)
    # The servers' own event loop (servers.core.app.run): the proxy's CPU per hop stays small.
    uvloop.run(serve(args.control, args.route))


if __name__ == "__main__":
    main()
