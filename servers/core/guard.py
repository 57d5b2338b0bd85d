"""DNS-rebinding protection: FastMCP's Host/Origin guard, asked once per distinct request origin.

FastMCP's ``HostOriginGuardMiddleware`` parses the Host and Origin of every request (URL
splitting, IP address parsing, pattern matching): about 32 µs per request, 3-5 % of a kit server's
CPU per tool call (bench/README.md, "The kit against plain FastMCP and the bare SDK"). Its verdict
depends only on the scheme, the server's address and the two headers, and a server sees few
distinct ones, so :class:`RememberedGuard` asks FastMCP's guard once for each and remembers the
answer. The guard is asked with a scope holding those four things alone, so a remembered verdict
is exactly the one FastMCP gives for them (``tests/core/test_guard.py`` compares the two).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastmcp.server.http import HostOriginGuardMiddleware
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_Key = tuple[str, Any, bytes | None, bytes | None]

REMEMBERED = 256
"""Distinct (scheme, server address, Host, Origin) verdicts kept; the oldest goes first."""


async def _let_through(scope: Scope, receive: Receive, send: Send) -> None:
    scope["passed"] = True


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def _is_guard(factory: object) -> bool:
    return factory is HostOriginGuardMiddleware


def _first(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    # What starlette's Headers.get, which the guard uses, returns: the first such header.
    for key, value in headers:
        if key == name:
            return value
    return None


def remember_guard(app: Starlette) -> ASGIApp:
    """``app`` (built by FastMCP's ``http_app`` with its Host/Origin guard) with the guard taken
    out of its middleware and put around it as a :class:`RememberedGuard` of the same options.

    Call it before the app's first request, when Starlette builds its middleware stack."""
    guard = next((m for m in app.user_middleware if _is_guard(m.cls)), None)
    if guard is None:
        raise RuntimeError(
            "FastMCP's app has no Host/Origin guard to remember (servers/core/guard.py)"
        )
    app.user_middleware.remove(guard)
    return RememberedGuard(app, guard.kwargs)


class RememberedGuard:
    """ASGI middleware: FastMCP's Host/Origin guard with ``options``, its verdict remembered per
    (scheme, server address, Host, Origin). A refused request gets the guard's own answer (421
    for a Host, 403 for an Origin)."""

    def __init__(self, app: ASGIApp, options: Mapping[str, Any], *, remembered: int = REMEMBERED):
        self.app = app
        self._guard = HostOriginGuardMiddleware(_let_through, **options)
        self._remembered = remembered
        # None: let through; else the messages of the refusal.
        self._verdicts: dict[_Key, list[Message] | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        key: _Key = (
            scope.get("scheme", "http"),
            scope.get("server"),
            _first(headers, b"host"),
            _first(headers, b"origin"),
        )
        try:
            refusal = self._verdicts[key]
        except KeyError:
            refusal = await self._ask(key)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        for message in refusal:
            # Copies: the layers outside may change a message they are sent (request ids).
            copy = dict(message)
            if "headers" in copy:
                copy["headers"] = list(copy["headers"])
            await send(copy)

    async def _ask(self, key: _Key) -> list[Message] | None:
        scheme, server, host, origin = key
        probe: Scope = {
            "type": "http",
            "scheme": scheme,
            "server": server,
            "headers": [
                (name, value)
                for name, value in ((b"host", host), (b"origin", origin))
                if value is not None
            ],
        }
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self._guard(probe, _nothing, keep)
        refusal = None if probe.get("passed") else answer
        if len(self._verdicts) >= self._remembered:
            del self._verdicts[next(iter(self._verdicts))]
        self._verdicts[key] = refusal
        return refusal
