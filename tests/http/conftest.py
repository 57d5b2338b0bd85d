"""Real processes over real HTTP: the dev identity provider and the data server, each started
with ``python -m``, on free ports, against a database cloned from the migrated template.

``http_stack`` is started once per test module; the whole stack (``running_full_stack``) once
per test process, by tests/conftest.py's ``full_stack``. Tokens are minted here with the
identity provider's own signing key (the same key directory), so a test can ask for any client,
scopes, subject or expiry without going through a grant, and also for tokens the servers must
refuse.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from servers.core.db.postgres import PostgresDatabase
from servers.core.scopes import CUSTOMER_SCOPES, OPS_SCOPES
from servers.core.settings import canonical_issuer
from servers.devidp.clients import ClientRegistry
from servers.devidp.keys import SigningKey, load_or_create_signing_key
from servers.devidp.tokens import mint_access_token, mint_id_token
from ticketing.db import seed_all
from ticketing.mailsink import Mailbox
from ticketing.pg import EmbeddedPostgres
from ticketing.procs import Child, ChildFailed, alive, free_port, wait_healthy

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0

# Variables that would change how the children behave if inherited from the caller's shell.
_INHERITED_PREFIXES = (
    "DATA_",
    "IDP_",
    "PAYMENT_",
    "NOTIFY_",
    "TICKET_",
    "MAIL_SINK_",
    "VENUE_TZ",
    "DATABASE_URL",
    "DEV_MODE",
)


@dataclass
class ServerProcess(Child):
    """A server on ``HOST:port`` (``ticketing.procs.Child``), healthy once ``/health`` answers."""

    port: int = 0

    def __post_init__(self) -> None:
        if self.health_url is None:
            self.health_url = f"{self.url}/health"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass
class HttpStack:
    """The running identity provider and data server, and a token mint for tests."""

    idp: ServerProcess
    data: ServerProcess
    key: SigningKey
    forged_key: SigningKey
    database_url: str
    workdir: Path
    servers: list[ServerProcess] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return canonical_issuer(self.idp.url)

    @property
    def data_url(self) -> str:
        return self.data.url

    @property
    def mcp_url(self) -> str:
        return f"{self.data.url}/mcp"

    @property
    def data_log(self) -> Path:
        return self.data.log

    @property
    def resource_metadata_url(self) -> str:
        return f"{self.data.url}/.well-known/oauth-protected-resource/mcp"

    def token(
        self,
        scopes: Iterable[str] = OPS_SCOPES,
        *,
        client_id: str = "ops",
        sub: str | None = None,
        issuer: str | None = None,
        issued_at: datetime | None = None,
        ttl: int = 900,
        key: SigningKey | None = None,
    ) -> str:
        """An access token as the identity provider would mint it, with any claim overridden."""
        return mint_access_token(
            key=key or self.key,
            issuer=issuer or self.issuer,
            sub=sub or client_id,
            client_id=client_id,
            scopes=scopes,
            ttl=ttl,
            now=issued_at,
        )

    def ops_token(self) -> str:
        """The ``ops`` client's token: every data/*, payments/*, notify/*, tickets/* scope."""
        return self.token(OPS_SCOPES, client_id="ops")

    def expired_token(self, scopes: Iterable[str] = OPS_SCOPES) -> str:
        """Issued two hours ago for ten minutes."""
        return self.token(scopes, issued_at=datetime.now(UTC) - timedelta(hours=2), ttl=600)

    def forged_token(self, scopes: Iterable[str] = OPS_SCOPES) -> str:
        """Signed by a key the identity provider never published, under its ``kid``."""
        return self.token(scopes, key=self.forged_key)

    def id_token(self, client_id: str = "ops") -> str:
        """An OpenID Connect ID token (``token_use=id``): proves identity, grants nothing."""
        return mint_id_token(
            key=self.key,
            issuer=self.issuer,
            sub="cus_someone",
            client_id=client_id,
            email="someone@example.com",
        )

    def log_tails(self) -> str:
        return "\n".join(server.log_tail(40) for server in self.servers)


def forge_key(real: SigningKey) -> SigningKey:
    """A different RSA key that claims the real key's ``kid``."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(private_key=other, kid=real.kid)


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
    env.update({"DEV_MODE": "1", "PYTHONUNBUFFERED": "1", **extra})
    return env


def _wait_healthy(servers: list[ServerProcess], timeout: float = STARTUP_TIMEOUT) -> None:
    try:
        wait_healthy(servers, timeout)
    except ChildFailed as exc:
        pytest.fail(str(exc), pytrace=False)


def _wait_accepting_tokens(stack: HttpStack, timeout: float = STARTUP_TIMEOUT) -> None:
    """Until the data server accepts the identity provider's tokens.

    ``/health`` answers before the data server has the provider's keys: its first token makes it
    fetch the JWKS, and should that fetch fail (a loaded machine, the provider's first request),
    it refetches only 30 s later and until then refuses every token with no log line but a debug
    one. Tests that check *why* a token was refused must never meet that window.
    """
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "get_ticket", "arguments": {"ticket_number": "TKT-ZZZZ0000"}},
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {stack.ops_token()}",
    }
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                answer = client.post(stack.mcp_url, json=call, headers=headers)
            except httpx.HTTPError as exc:
                last = repr(exc)
            else:
                if answer.status_code == 200:
                    return
                last = f"HTTP {answer.status_code}"
            time.sleep(0.5)
    pytest.fail(
        f"the data server did not accept the identity provider's tokens in {timeout:g} s "
        f"({last})\n{stack.log_tails()}",
        pytrace=False,
    )


@contextmanager
def _running_stack(
    pg: EmbeddedPostgres, template_db: str, *, seeded: bool = False
) -> Iterator[HttpStack]:
    """The identity provider and the data server on a fresh database (seeded if asked); every
    server appended to ``servers`` by then is stopped at the end, before the database goes."""
    workdir = Path(tempfile.mkdtemp(prefix="ticketing-http-"))
    key_dir = workdir / "idp-key"
    key = load_or_create_signing_key(key_dir)  # the IdP then loads this very key
    dbname = f"http_{uuid.uuid4().hex[:16]}"
    pg.create_database(dbname, template=template_db)
    database_url = pg.url(dbname)
    if seeded:
        asyncio.run(_seed(database_url))

    idp_port, data_port = free_port(HOST), free_port(HOST)
    issuer = canonical_issuer(f"http://{HOST}:{idp_port}")
    idp = ServerProcess(
        "identity provider",
        ["-m", "servers.devidp"],
        _child_env(
            {
                "IDP_HOST": HOST,
                "IDP_PORT": str(idp_port),
                "IDP_ISSUER": issuer,
                "IDP_KEY_DIR": str(key_dir),
                "IDP_DATABASE_URL": database_url,
            }
        ),
        workdir / "idp.log",
        cwd=workdir,
        port=idp_port,
    )
    data = ServerProcess(
        "data server",
        ["-m", "servers.data"],
        _child_env(
            {
                "DATA_HOST": HOST,
                "DATA_PORT": str(data_port),
                "DATA_PUBLIC_URL": f"http://{HOST}:{data_port}",
                "DATA_DATABASE_URL": database_url,
                "DATA_AUTH_ISSUER": issuer,
            }
        ),
        workdir / "data.log",
        cwd=workdir,
        port=data_port,
    )
    stack = HttpStack(
        idp=idp,
        data=data,
        key=key,
        forged_key=forge_key(key),
        database_url=database_url,
        workdir=workdir,
        servers=[idp, data],
    )
    try:
        for server in stack.servers:
            server.start()
        _wait_healthy(stack.servers)
        _wait_accepting_tokens(stack)
        yield stack
    finally:
        leftovers: list[str] = []
        for server in reversed(stack.servers):
            below = server.stop()
            if server.proc is not None and server.proc.poll() is None:
                leftovers.append(f"{server.name} (pid {server.proc.pid})")
            leftovers.extend(f"{server.name}'s child {pid}" for pid in below if alive(pid))
        pg.drop_database(dbname)
        shutil.rmtree(workdir, ignore_errors=True)
        assert not leftovers, f"processes left running: {', '.join(leftovers)}"


async def _seed(database_url: str) -> None:
    db = await PostgresDatabase(database_url, min_size=1, max_size=1).open()
    try:
        await seed_all(db, date.today())
    finally:
        await db.close()


@pytest.fixture(scope="module")
def http_stack(pg: EmbeddedPostgres, template_db: str) -> Generator[HttpStack, None, None]:
    """The dev identity provider and the data server as real processes, ready to call."""
    with _running_stack(pg, template_db) as stack:
        yield stack


@pytest.fixture(scope="module")
def payment_env() -> dict[str, str]:
    """Extra PAYMENT_* settings of the ``payment_server``; a test module may override it."""
    return {}


@pytest.fixture(scope="module")
def payment_server(http_stack: HttpStack, payment_env: dict[str, str]) -> ServerProcess:
    """The payment server as a process too, on the stack's database and identity provider
    (stopped with the stack), with a little latency per charge so that work is in flight."""
    port = free_port(HOST)
    server = ServerProcess(
        "payment server",
        ["-m", "servers.payment"],
        _child_env(
            {
                "PAYMENT_HOST": HOST,
                "PAYMENT_PORT": str(port),
                "PAYMENT_PUBLIC_URL": f"http://{HOST}:{port}",
                "PAYMENT_DATABASE_URL": http_stack.database_url,
                "PAYMENT_AUTH_ISSUER": http_stack.issuer,
                "PAYMENT_FAULT_LATENCY_MS": "20",
                **payment_env,
            }
        ),
        http_stack.workdir / "payment.log",
        cwd=http_stack.workdir,
        port=port,
    )
    http_stack.servers.append(server)
    server.start()
    _wait_healthy([server])
    return server


@dataclass
class FullStack:
    """Every server of ``make run`` as a process: the identity provider, data, payment (its
    webhooks to the ticket server), the SMTP sink, notify (sending to the sink) and ticket, on a
    seeded database."""

    base: HttpStack
    payment: ServerProcess
    sink: ServerProcess
    notify: ServerProcess
    ticket: ServerProcess
    mailbox: Mailbox

    @property
    def database_url(self) -> str:
        return self.base.database_url

    def mcp_url(self, server: ServerProcess) -> str:
        return f"{server.url}/mcp"

    def ops_token(self) -> str:
        return self.base.ops_token()

    def customer_token(self, customer_id: str) -> str:
        """What the web app's login gives a customer."""
        return self.base.token(CUSTOMER_SCOPES, client_id="web", sub=customer_id)

    def restart_ticket(self) -> None:
        self.ticket.start()
        _wait_healthy([self.ticket])


@contextmanager
def running_full_stack(pg: EmbeddedPostgres, template_db: str) -> Iterator[FullStack]:
    """The whole stack as separate processes on free ports, ready to call; every process is
    stopped at the end (also the browser suite's stack, tests/web/stack.py)."""
    with _running_stack(pg, template_db, seeded=True) as base:
        workdir = base.workdir
        issuer = base.issuer
        database_url = base.database_url
        ticket_secret = ClientRegistry.load(base.key).client_secret("ticket-server")
        assert ticket_secret is not None
        webhook_secret = base.key.derive_secret("payment-webhook")
        payment_port, notify_port, ticket_port = free_port(HOST), free_port(HOST), free_port(HOST)
        smtp_port, sink_http_port = free_port(HOST), free_port(HOST)
        mail_dir = workdir / "mail"

        def server_env(prefix: str, port: int) -> dict[str, str]:
            return {
                f"{prefix}_HOST": HOST,
                f"{prefix}_PORT": str(port),
                f"{prefix}_PUBLIC_URL": f"http://{HOST}:{port}",
                f"{prefix}_DATABASE_URL": database_url,
                f"{prefix}_AUTH_ISSUER": issuer,
            }

        payment = ServerProcess(
            "payment server",
            ["-m", "servers.payment"],
            _child_env(
                {
                    **server_env("PAYMENT", payment_port),
                    "PAYMENT_WEBHOOK_URLS": f"http://{HOST}:{ticket_port}/webhooks/payment",
                    "PAYMENT_WEBHOOK_SECRET": webhook_secret,
                    # Retried soon enough for a test to see it: 0.2 s, 0.4 s, ... up to 2 s.
                    "PAYMENT_WEBHOOK_BASE_DELAY_SECONDS": "0.2",
                    "PAYMENT_WEBHOOK_MAX_DELAY_SECONDS": "2",
                    "PAYMENT_WEBHOOK_MAX_ATTEMPTS": "30",
                }
            ),
            workdir / "payment.log",
            cwd=workdir,
            port=payment_port,
        )
        sink = ServerProcess(
            "SMTP sink",
            ["-m", "ticketing.mailsink"],
            _child_env(
                {
                    "MAIL_SINK_HOST": HOST,
                    "MAIL_SINK_PORT": str(smtp_port),
                    "MAIL_SINK_HTTP_PORT": str(sink_http_port),
                    "MAIL_SINK_DIR": str(mail_dir),
                }
            ),
            workdir / "mailsink.log",
            cwd=workdir,
            port=sink_http_port,
        )
        notify = ServerProcess(
            "notify server",
            ["-m", "servers.notify"],
            _child_env(
                {
                    **server_env("NOTIFY", notify_port),
                    "NOTIFY_SMTP_HOST": HOST,
                    "NOTIFY_SMTP_PORT": str(smtp_port),
                    "NOTIFY_WORKER_POLL_SECONDS": "0.2",
                }
            ),
            workdir / "notify.log",
            cwd=workdir,
            port=notify_port,
        )
        ticket = ServerProcess(
            "ticket server",
            ["-m", "servers.ticket"],
            _child_env(
                {
                    **server_env("TICKET", ticket_port),
                    "TICKET_DATA_URL": f"{base.data.url}/mcp",
                    "TICKET_PAYMENT_URL": f"http://{HOST}:{payment_port}/mcp",
                    "TICKET_NOTIFY_URL": f"http://{HOST}:{notify_port}/mcp",
                    "TICKET_CLIENT_SECRET": ticket_secret,
                    "TICKET_WEBHOOK_SECRET": webhook_secret,
                }
            ),
            workdir / "ticket.log",
            cwd=workdir,
            port=ticket_port,
        )
        started = [payment, sink, notify, ticket]
        base.servers.extend(started)  # stopped, newest first, with the base stack
        for server in started:
            server.start()
        _wait_healthy(started)
        yield FullStack(
            base=base,
            payment=payment,
            sink=sink,
            notify=notify,
            ticket=ticket,
            mailbox=Mailbox(mail_dir),
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, the servers' log tails go into the report."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        stack = funcargs.get("http_stack")
        full = funcargs.get("full_stack")
        if isinstance(full, FullStack):
            stack = full.base
        if isinstance(stack, HttpStack):
            report.sections.append(("server logs (tail)", stack.log_tails()))
    return report
