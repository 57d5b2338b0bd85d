"""The built customer web app (web/dist) and its ``/config.json``: the host serves it at ``/``
beside its chat API (ARCHITECTURE, "Entry points"); ``python -m host.webapp`` serves it alone,
for the browser tests of the app. Every path that is not a file of the build (``/callback``, the
app's own screens) is answered with ``index.html``, as a single-page app needs. ``/config.json``
is written from the environment, so the one build works against any issuer and servers.
Visitors who are not signed in read public prices through ``/api/catalogue``
(:mod:`host.catalogue`), called with the app server's own catalogue-only token when a client
secret is configured (``WEB_CATALOGUE_CLIENT_SECRET``; client ``WEB_CATALOGUE_CLIENT_ID``,
by default ``host-agent``).
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from servers.core.client import ClientCredentials, HttpServiceClient, ToolCaller
from servers.core.scopes import TICKETS_CATALOGUE

from .catalogue import CATALOGUE_PATH, catalogue_app

DIST = Path(__file__).resolve().parent.parent / "web" / "dist"  # where `make web` builds it
PORT = 8080


def web_config(environ: dict[str, str]) -> dict[str, str]:
    """What the app reads at start: the issuer to sign in with and the servers to call."""
    return {
        "issuer": environ.get("WEB_ISSUER", "http://127.0.0.1:9000/"),
        "client_id": environ.get("WEB_CLIENT_ID", "web"),
        "ticket_url": environ.get("WEB_TICKET_URL", "http://127.0.0.1:8002/mcp"),
        "payment_url": environ.get("WEB_PAYMENT_URL", "http://127.0.0.1:8003/mcp"),
    }


class _SinglePage(StaticFiles):
    """The build's files; index.html for any other path (client-side routes)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except HTTPException as missing:
            if missing.status_code != 404:
                raise
            return await super().get_response("index.html", scope)


NOT_BUILT = "The web app is not built: run `make web` (or `make run`, which builds it)."


def build_app(dist: Path, config: dict[str, str], catalogue: ToolCaller | None = None) -> Starlette:
    async def config_json(request: Request) -> JSONResponse:
        return JSONResponse(config, headers={"Cache-Control": "no-store"})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "web app"})

    async def not_built(request: Request) -> Response:
        return PlainTextResponse(NOT_BUILT, status_code=503)

    # Without a build the servers still start (a Python-only checkout), and the page says why.
    app: Mount | Route = (
        Mount("/", _SinglePage(directory=dist, html=True))
        if (dist / "index.html").is_file()
        else Route("/{path:path}", not_built)
    )
    return Starlette(
        routes=[
            Route("/config.json", config_json),
            Route("/health", health),
            Mount(CATALOGUE_PATH, catalogue_app(catalogue)),
            app,
        ]
    )


def catalogue_client(environ: dict[str, str]) -> HttpServiceClient | None:
    """The ticket server, called with the catalogue-only client-credentials token; None when
    no secret is configured (public prices then answer UNAVAILABLE)."""
    secret = environ.get("WEB_CATALOGUE_CLIENT_SECRET")
    if not secret:
        return None
    config = web_config(environ)
    credentials = ClientCredentials(
        config["issuer"],
        environ.get("WEB_CATALOGUE_CLIENT_ID", "host-agent"),
        secret,
        [TICKETS_CATALOGUE],
    )
    return HttpServiceClient(config["ticket_url"], credentials=credentials, name="web-app")


def main() -> None:
    import uvicorn

    environ = dict(os.environ)
    app = build_app(
        Path(environ.get("WEB_DIST", DIST)), web_config(environ), catalogue_client(environ)
    )
    uvicorn.run(
        app,
        host=os.environ.get("WEB_HOST", "127.0.0.1"),
        port=int(os.environ.get("WEB_PORT", PORT)),
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
