"""The real stack the browser suite (web/e2e, @playwright/test) runs against, as one command:

``python -m tests.web.stack``

starts a throwaway PostgreSQL cluster and tests/http/conftest.py's whole stack on it (identity
provider, data, payment with its webhooks, SMTP sink, notify, ticket: separate processes on free
ports, seeded database), then the concierge host in this process as ``python -m host`` assembles
it (chat API, the built web app and its /config.json, public prices) on 127.0.0.1:8080, the
origin the identity provider's ``web`` client redirects to, with a scripted model in place of an
LLM. Beside it, on a free port, a small control API does for the browser tests what the Python
tests did with fixtures: tokens (a customer's, ``ops``, the catalogue's), the scripted model's
plan and what it was asked, the SMTP sink's mailbox, and a hold backdated in the database.

Once everything answers, one JSON line on stdout gives the URLs (``ready``). Everything is
stopped, and the database and cluster removed, when stdin closes (the test runner ended or died)
or on SIGTERM / SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import psycopg
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from host.__main__ import public_prices
from host.assemble import assembled
from host.memory.postgres import PostgresMemory
from host.providers.base import ModelEvent, ModelRequest
from host.providers.scripted import Action, Call, Say, ScriptedModel
from host.webapp import DIST, PORT
from host.webapp import build_app as build_web_app
from servers.core.backoff import Backoff
from servers.core.db.connect import ping
from servers.core.db.postgres import PostgresDatabase
from servers.core.scopes import TICKETS_CATALOGUE
from servers.core.settings import WEB_APP_ORIGIN
from servers.devidp.clients import ClientRegistry
from tests.conftest import migrated_template, throwaway_postgres
from tests.host.support import settings_for
from tests.http.conftest import HOST, FullStack, running_full_stack
from ticketing.procs import free_port, listeners, port_in_use

CATALOGUE_CLIENT = "host-agent"


class Switchboard:
    """The host's model: the scripted conversation the running test last set."""

    def __init__(self) -> None:
        self.model = ScriptedModel([])

    def play(self, plan: list[list[Action]]) -> None:
        self.model = ScriptedModel(plan)

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        return self.model.stream(request)


def plan_of(body: Any) -> list[list[Action]]:
    """``{"steps": [[{"say": text} | {"call": name, "arguments": {...}}, ...], ...]}``"""
    steps: list[list[Action]] = []
    for step in body["steps"]:
        actions: list[Action] = []
        for action in step:
            if "say" in action:
                actions.append(Say(str(action["say"])))
            else:
                actions.append(Call(str(action["call"]), dict(action.get("arguments", {}))))
        steps.append(actions)
    return steps


def control_app(full: FullStack, model: Switchboard) -> Starlette:
    """What the browser tests set up or read beside the browser: only ever on loopback, in the
    test run, never part of a served stack."""

    def customer_id(email: str) -> str:
        with psycopg.connect(full.database_url) as conn:
            row = conn.execute(
                "SELECT customer_id FROM data.customers WHERE email = %s", (email,)
            ).fetchone()
        if row is None:
            raise LookupError(email)
        return str(row[0])

    async def customer(request: Request) -> Response:
        email = request.path_params["email"]
        try:
            found = await asyncio.to_thread(customer_id, email)
        except LookupError:
            return JSONResponse({"error": f"{email} is not in the seed data"}, status_code=404)
        return JSONResponse({"customer_id": found, "token": full.customer_token(found)})

    async def ops_token(request: Request) -> Response:
        return JSONResponse({"token": full.ops_token()})

    async def catalogue_token(request: Request) -> Response:
        token = full.base.token([TICKETS_CATALOGUE], client_id=CATALOGUE_CLIENT)
        return JSONResponse({"token": token})

    async def script(request: Request) -> Response:
        model.play(plan_of(await request.json()))
        return Response(status_code=204)

    async def asked(request: Request) -> Response:
        """The last message of each request the scripted model was sent, in order."""
        texts = [sent.messages[-1].text for sent in model.model.requests]
        return JSONResponse({"last_messages": texts})

    def backdate(order_id: str) -> int:
        with psycopg.connect(full.database_url) as conn:
            return conn.execute(
                "UPDATE data.upgrade_orders SET created_at = now() - interval '16 minutes', "
                "hold_expires_at = now() - interval '1 second' WHERE order_id = %s",
                (order_id,),
            ).rowcount

    async def lapse_hold(request: Request) -> Response:
        """The order's hold as if taken 16 minutes ago (the data server's expire_holds then
        expires it): time passing, which no tool can do."""
        changed = await asyncio.to_thread(backdate, request.path_params["order_id"])
        return JSONResponse({"updated": changed}, status_code=200 if changed else 404)

    async def mail(request: Request) -> Response:
        to = request.query_params.get("to")
        entries = full.mailbox.inbox(to)
        return JSONResponse(
            {"messages": [{"to": e.first.to, "subject": e.first.subject} for e in entries]}
        )

    return Starlette(
        routes=[
            Route("/customers/{email}", customer),
            Route("/tokens/ops", ops_token),
            Route("/tokens/catalogue", catalogue_token),
            Route("/model/script", script, methods=["POST"]),
            Route("/model/requests", asked),
            Route("/orders/{order_id}/lapse-hold", lapse_hold, methods=["POST"]),
            Route("/mail", mail),
        ]
    )


class _Server(uvicorn.Server):
    """uvicorn, saying when it listens, and leaving the signals to this module (which stops
    both servers and then the stack below them)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.listening.set()

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _listening(servers: list[_Server]) -> None:
    for server in servers:
        await server.listening.wait()


def _on_stdin_closed(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    sys.stdin.buffer.read()  # returns at end of file: whoever started us has gone
    loop.call_soon_threadsafe(stop.set)


async def serve(full: FullStack) -> None:
    catalogue_secret = ClientRegistry.load(full.base.key).client_secret(CATALOGUE_CLIENT)
    assert catalogue_secret is not None
    settings = settings_for(full, client_secret=SecretStr(catalogue_secret))
    model = Switchboard()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    threading.Thread(target=_on_stdin_closed, args=(loop, stop), daemon=True).start()

    db = await PostgresDatabase(full.database_url, min_size=1, max_size=4).open()
    try:
        async with AsyncExitStack() as stack:
            web = build_web_app(
                DIST,
                {
                    "issuer": settings.issuer,
                    "client_id": settings.web_client_id,
                    "ticket_url": settings.ticket_url,
                    "payment_url": settings.payment_url,
                },
                await stack.enter_async_context(public_prices(settings)),
            )
            host = await stack.enter_async_context(
                assembled(
                    settings,
                    model,
                    PostgresMemory(db),
                    lambda: ping(db),
                    web=web,
                    backoff=Backoff(0.01, 0.05, jitter=0),
                )
            )
            control_port = free_port(HOST)
            servers = [
                _Server(
                    uvicorn.Config(app, host=HOST, port=port, log_config=None, access_log=False)
                )
                for app, port in ((host, PORT), (control_app(full, model), control_port))
            ]
            running = [asyncio.create_task(server.serve()) for server in servers]
            try:
                listening = asyncio.create_task(_listening(servers))
                done, _ = await asyncio.wait(
                    [*running, listening], return_when=asyncio.FIRST_COMPLETED
                )
                if listening not in done:
                    listening.cancel()
                    raise SystemExit("the host or the control API did not start")
                ready = {
                    "web": WEB_APP_ORIGIN,
                    "control": f"http://{HOST}:{control_port}",
                    "idp": full.base.idp.url,
                    "data_mcp": full.base.mcp_url,
                    "ticket_mcp": full.mcp_url(full.ticket),
                    "payment_mcp": full.mcp_url(full.payment),
                }
                print(json.dumps({"ready": ready}), flush=True)
                stopped = asyncio.create_task(stop.wait())
                await asyncio.wait([*running, stopped], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for server in servers:
                    server.should_exit = True
                await asyncio.gather(*running, return_exceptions=True)
    finally:
        await db.close()


def main() -> None:
    if port_in_use(PORT):
        holders = ", ".join(listeners(PORT)) or "another process"
        raise SystemExit(
            f"port {PORT} is taken by {holders}: run the browser tests in their own network "
            "namespace (unshare --net), as web/README.md says"
        )
    if not (DIST / "index.html").is_file():
        raise SystemExit(f"{DIST} is not built: run `make web`")
    # SIGTERM while the stack starts or stops: unwound like Ctrl-C, so every process is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    with throwaway_postgres() as pg, running_full_stack(pg, migrated_template(pg)) as full:
        try:
            asyncio.run(serve(full))
        finally:
            # Already stopping: a second request must not cut the clean-up short.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
