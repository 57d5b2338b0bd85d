"""``ticketing run``: the whole local stack in one process tree.

Starts (or reuses) the embedded PostgreSQL, migrates and seeds, starts the dev identity provider
and every server as child processes, waits until each answers ``GET /health``, prints where
everything is, and supervises: a server or PostgreSQL that dies is restarted with back-off and
said so. Only Ctrl-C or SIGTERM stops the stack. Every port is checked before anything starts.
Children get a parent-death signal, so even a SIGKILL of this process leaves nothing running.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TextIO

import psycopg

from servers.core.db.postgres import PostgresDatabase
from servers.core.settings import WEB_APP_ORIGIN, canonical_issuer
from servers.devidp.clients import ClientRegistry
from servers.devidp.keys import load_or_create_signing_key
from ticketing.db import migrate_all, seed_all
from ticketing.layout import DATABASE_NAME, DEV_DIR, dev_cluster_dir
from ticketing.pg import PORT_ENV, EmbeddedPostgres
from ticketing.procs import (
    Child,
    ChildFailed,
    Restartable,
    Supervisor,
    port_in_use,
    stop_all,
    wait_healthy,
)

IDP_KEY_DIR = DEV_DIR / "idp"
IDP_PORT = 9000


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port_variable: str
    port: int
    env: Callable[[StackEnv], dict[str, str]]
    # For a service whose own port does not speak HTTP (the SMTP sink): where /health is.
    health_port: int | None = None
    shown_url: str | None = None
    health_port_variable: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ports(self) -> list[tuple[int, str]]:
        """Each port it listens on, with the variable that moves it."""
        ports = [(self.port, self.port_variable)]
        if self.health_port is not None and self.health_port_variable is not None:
            ports.append((self.health_port, self.health_port_variable))
        return ports

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port or self.port}/health"


@dataclass(frozen=True)
class StackEnv:
    database_url: str
    issuer: str
    ticket_secret: str
    """The ticket server's client secret, derived from the dev identity provider's key."""
    webhook_secret: str
    """What the payment server signs its webhooks to the ticket server with."""
    fingerprint_key: str
    """The payment server's key of card fingerprints: the same across restarts, so that a card
    saved again is known for the one already saved."""
    host_secret: str
    """The concierge host's client secret (``host-agent``: public prices, for visitors)."""

    @classmethod
    def for_dev(cls, database_url: str, issuer: str) -> StackEnv:
        key = load_or_create_signing_key(IDP_KEY_DIR)
        registry = ClientRegistry.load(key)
        ticket_secret = registry.client_secret("ticket-server")
        host_secret = registry.client_secret("host-agent")
        assert ticket_secret is not None
        assert host_secret is not None
        return cls(
            database_url=database_url,
            issuer=issuer,
            ticket_secret=ticket_secret,
            webhook_secret=key.derive_secret("payment-webhook"),
            fingerprint_key=key.derive_secret("payment-fingerprint"),
            host_secret=host_secret,
        )


def _server_env(prefix: str, port: int) -> Callable[[StackEnv], dict[str, str]]:
    def env(stack: StackEnv) -> dict[str, str]:
        return {
            f"{prefix}_PORT": str(port),
            f"{prefix}_PUBLIC_URL": f"http://127.0.0.1:{port}",
            f"{prefix}_DATABASE_URL": stack.database_url,
            f"{prefix}_AUTH_ISSUER": stack.issuer,
            # The web app and MCP Inspector in direct mode call from their own pages' origins.
            f"{prefix}_ALLOWED_ORIGINS": os.environ.get(
                f"{prefix}_ALLOWED_ORIGINS",
                f"{WEB_APP_ORIGIN},http://localhost:6274,http://127.0.0.1:6274",
            ),
        }

    return env


def _port(variable: str, default: int) -> int:
    return int(os.environ.get(variable, default))


def services() -> list[Service]:
    idp_port = _port("IDP_PORT", IDP_PORT)
    data_port = _port("DATA_PORT", 8001)
    ticket_port = _port("TICKET_PORT", 8002)
    payment_port = _port("PAYMENT_PORT", 8003)
    notify_port = _port("NOTIFY_PORT", 8004)
    mail_port = _port("MAIL_SINK_PORT", 1025)
    mail_http_port = _port("MAIL_SINK_HTTP_PORT", 8025)
    notify_env = _server_env("NOTIFY", notify_port)
    payment_env = _server_env("PAYMENT", payment_port)
    ticket_env = _server_env("TICKET", ticket_port)
    host_port = _port("HOST_PORT", 8080)
    host_env = _server_env("HOST", host_port)
    return [
        Service(
            "identity provider",
            "servers.devidp",
            "IDP_PORT",
            idp_port,
            lambda s: {
                "IDP_PORT": str(idp_port),
                "IDP_ISSUER": s.issuer,
                "IDP_KEY_DIR": str(IDP_KEY_DIR),
                "IDP_DATABASE_URL": s.database_url,
            },
        ),
        Service(
            "data server", "servers.data", "DATA_PORT", data_port, _server_env("DATA", data_port)
        ),
        Service(
            "payment server",
            "servers.payment",
            "PAYMENT_PORT",
            payment_port,
            lambda s: {
                **payment_env(s),
                "PAYMENT_WEBHOOK_URLS": f"http://127.0.0.1:{ticket_port}/webhooks/payment",
                "PAYMENT_WEBHOOK_SECRET": s.webhook_secret,
                "PAYMENT_FINGERPRINT_KEY": s.fingerprint_key,
            },
        ),
        Service(
            "SMTP sink",
            "ticketing.mailsink",
            "MAIL_SINK_PORT",
            mail_port,
            lambda s: {
                "MAIL_SINK_PORT": str(mail_port),
                "MAIL_SINK_HTTP_PORT": str(mail_http_port),
                "MAIL_SINK_DIR": str(DEV_DIR / "mail"),
            },
            health_port=mail_http_port,
            health_port_variable="MAIL_SINK_HTTP_PORT",
            shown_url=f"smtp://127.0.0.1:{mail_port}",
        ),
        Service(
            "notify server",
            "servers.notify",
            "NOTIFY_PORT",
            notify_port,
            lambda s: {
                **notify_env(s),
                "NOTIFY_SMTP_HOST": "127.0.0.1",
                "NOTIFY_SMTP_PORT": str(mail_port),
            },
        ),
        Service(
            "ticket server",
            "servers.ticket",
            "TICKET_PORT",
            ticket_port,
            lambda s: {
                **ticket_env(s),
                # Overridable so that bench_journey can put its hop-counting, delaying proxy
                # between the ticket server and the servers it calls.
                "TICKET_DATA_URL": os.environ.get(
                    "TICKET_DATA_URL", f"http://127.0.0.1:{data_port}/mcp"
                ),
                "TICKET_PAYMENT_URL": os.environ.get(
                    "TICKET_PAYMENT_URL", f"http://127.0.0.1:{payment_port}/mcp"
                ),
                "TICKET_NOTIFY_URL": os.environ.get(
                    "TICKET_NOTIFY_URL", f"http://127.0.0.1:{notify_port}/mcp"
                ),
                "TICKET_CLIENT_SECRET": s.ticket_secret,
                "TICKET_WEBHOOK_SECRET": s.webhook_secret,
            },
        ),
        # The concierge, serving the built web app at / too: without HOST_MODEL_* settings its
        # chat answers 503 naming them.
        Service(
            "concierge host",
            "host",
            "HOST_PORT",
            host_port,
            lambda s: {
                **host_env(s),
                "HOST_TICKET_URL": f"http://127.0.0.1:{ticket_port}/mcp",
                "HOST_PAYMENT_URL": f"http://127.0.0.1:{payment_port}/mcp",
                "HOST_CLIENT_SECRET": s.host_secret,
            },
        ),
    ]


@dataclass
class _Postgres:
    """The embedded PostgreSQL as the supervisor sees it."""

    pg: EmbeddedPostgres
    name: str = "PostgreSQL server"

    @property
    def returncode(self) -> int | None:
        return self.pg.returncode

    def running(self) -> bool:
        # Polls, so a postmaster that died is reaped: its zombie would keep postmaster.pid
        # "in use" and the new postmaster would refuse to start.
        return self.pg.is_running

    def start(self) -> None:
        self.pg.start()


@dataclass
class Stack:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    children: list[Child] = field(default_factory=list)
    postgres: EmbeddedPostgres | None = None

    def say(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    def check_ports(self) -> None:
        """Every port the stack will listen on must be free before anything starts."""
        wanted = [
            (port, service.name, variable)
            for service in services()
            for port, variable in service.ports()
        ]
        pg_port = os.environ.get(PORT_ENV)
        if pg_port and not os.environ.get("DATABASE_URL"):
            wanted.append((int(pg_port), "PostgreSQL", PORT_ENV))
        taken = [
            f"port {port}, where the {name} should listen ({variable}=...)"
            for port, name, variable in wanted
            if port_in_use(port)
        ]
        if taken:
            raise SystemExit(
                "Nothing was started: another program (another `make run`?) already listens on "
                + "; ".join(taken)
                + ". Stop it, or choose other ports with the variables named."
            )

    @contextmanager
    def database(self) -> Iterator[str]:
        external = os.environ.get("DATABASE_URL")
        if external:
            self.say("==> Using the PostgreSQL at DATABASE_URL")
            yield external
            return
        port = os.environ.get(PORT_ENV)
        data_dir = dev_cluster_dir()
        pg = EmbeddedPostgres(
            data_dir, port=int(port) if port else None, log=lambda m: self.say(f"    {m}")
        )
        self.say(f"==> Starting PostgreSQL (data in {data_dir})")
        if data_dir != (DEV_DIR / "pg").absolute():
            self.say(
                "    (PostgreSQL runs as an unprivileged user, who cannot reach this checkout, so "
                "its data is kept there instead)"
            )
        with pg:
            self.postgres = pg
            with _autocommit(pg.url()) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
                ).fetchone()
            if not exists:
                self.say(f"    creating database {DATABASE_NAME}")
                pg.create_database(DATABASE_NAME)
            yield pg.url(DATABASE_NAME)

    def prepare(self, database_url: str) -> None:
        async def run() -> tuple[int, int]:
            db = await PostgresDatabase(database_url, max_size=2).open()
            try:
                applied = await migrate_all(db)
                return len(applied), await seed_all(db, date.today())
            finally:
                await db.close()

        self.say("==> Migrating and seeding")
        applied, seeded = asyncio.run(run())
        self.say(f"    {applied} migrations applied, {seeded} seed rows inserted")

    def start(self, stack_env: StackEnv) -> None:
        logs = DEV_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for service in services():
            child = Child(
                service.name,
                ["-m", service.module],
                {**os.environ, "DEV_MODE": "1", **service.env(stack_env)},
                logs / f"{service.module.rsplit('.', 1)[-1]}.log",
                health_url=service.health_url,
            )
            self.say(f"==> Starting the {service.name} on {service.shown_url or service.url}")
            child.start()
            self.children.append(child)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        try:
            wait_healthy(self.children, timeout)
        except ChildFailed as exc:
            raise SystemExit(f"The stack did not start: {exc}") from None

    def stop(self) -> None:
        stop_all(self.children)
        self.children.clear()

    def supervise(self, poll: float = 0.5) -> None:
        """Until Ctrl-C or SIGTERM: whatever dies (a server, PostgreSQL) is restarted, with
        back-off, and said so; nothing else stops."""
        members: list[Restartable] = [*self.children]
        if self.postgres is not None:
            members.insert(0, _Postgres(self.postgres))
        supervisor = Supervisor(members, say=self.say)
        while True:
            supervisor.check()
            time.sleep(poll)


@contextmanager
def _autocommit(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def _raise_on_term(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run() -> None:
    """Run the stack in the foreground until interrupted."""
    signal.signal(signal.SIGTERM, _raise_on_term)
    stack = Stack()
    stack.check_ports()
    try:
        with stack.database() as database_url:
            stack.prepare(database_url)
            issuer = canonical_issuer(f"http://127.0.0.1:{_port('IDP_PORT', IDP_PORT)}")
            try:
                stack.start(StackEnv.for_dev(database_url, issuer))
                stack.wait_healthy()
                _banner(stack, issuer)
                stack.supervise()
            finally:
                stack.say("==> Stopping")
                stack.stop()
    except KeyboardInterrupt:
        pass
    stack.say("Stopped.")


def _banner(stack: Stack, issuer: str) -> None:
    stack.say("")
    for service in services():
        path = "/mcp" if service.module.startswith("servers.") else ""
        if service.module == "servers.devidp":
            path = ""
        stack.say(f"    {service.name:<20} {service.shown_url or service.url + path}")
    stack.say(f"    {'logs':<20} {DEV_DIR / 'logs'}/")
    stack.say("")
    stack.say("Ready. Get a token in another terminal:")
    stack.say("    .venv/bin/ticketing token --client ops      # operators: every service scope")
    stack.say("    .venv/bin/ticketing token --user john.doe@example.com   # a customer")
    host = next(service for service in services() if service.module == "host")
    stack.say(f"The web app: {host.url}/ (sign in as a customer); the concierge's chat API is")
    stack.say("/api/chat there, and answers 503 until a model is configured (HOST_MODEL_*).")
    stack.say("E-mails sent by the notify server: .venv/bin/ticketing mail list")
    stack.say(f"Tokens are issued by {issuer}; seeded customers' dev password is Passw0rd!")
    stack.say("Press Ctrl-C to stop everything.")
