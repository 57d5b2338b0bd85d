"""Real processes over real HTTP: the dev identity provider and the data server, each started
with ``python -m``, on free ports, against a database cloned from the migrated template.

The stack is started once per test module. Tokens are minted here with the identity provider's
own signing key (the same key directory), so a test can ask for any client, scopes, subject or
expiry without going through a grant, and also for tokens the servers must refuse.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
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
from servers.data.seed import seed
from servers.devidp.clients import ClientRegistry
from servers.devidp.keys import SigningKey, load_or_create_signing_key
from servers.devidp.tokens import mint_access_token, mint_id_token
from ticketing.mailsink import Mailbox
from ticketing.pg import EmbeddedPostgres
from ticketing.procs import alive, descendants, free_port, parent_death_signal, tail

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 40

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
class ServerProcess:
    """One child process: its command, where it listens and where it logs."""

    name: str
    module: str
    port: int
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, cwd: Path) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module],
                cwd=cwd,  # not the repo: its .env must not leak into the test servers
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=parent_death_signal(),
            )

    def log_tail(self) -> str:
        return f"--- {self.name} ({self.log}) ---\n{tail(self.log, LOG_TAIL_LINES)}"

    def kill(self) -> None:
        """SIGKILL, as a crash would, and reap it; ``start`` may then run it again."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> set[int]:
        """SIGTERM, wait, SIGKILL if it will not go; returns the descendants it had."""
        proc = self.proc
        if proc is None:
            return set()
        below = descendants(proc.pid)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        for pid in below:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        return below


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
        return "\n".join(server.log_tail() for server in self.servers)


def forge_key(real: SigningKey) -> SigningKey:
    """A different RSA key that claims the real key's ``kid``."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(private_key=other, kid=real.kid)


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
    env.update({"DEV_MODE": "1", "PYTHONUNBUFFERED": "1", **extra})
    return env


def _wait_healthy(servers: list[ServerProcess], timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    pending = list(servers)
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for server in servers:
                assert server.proc is not None
                if server.proc.poll() is not None:
                    pytest.fail(
                        f"the {server.name} exited with status {server.proc.returncode} "
                        f"while starting\n{server.log_tail()}",
                        pytrace=False,
                    )
            for server in list(pending):
                try:
                    if client.get(f"{server.url}/health").status_code == 200:
                        pending.remove(server)
                except httpx.HTTPError:
                    pass
            if not pending:
                return
            if time.monotonic() > deadline:
                tails = "\n".join(s.log_tail() for s in servers)
                names = ", ".join(s.name for s in pending)
                pytest.fail(f"{names} did not answer /health in {timeout:.0f} s\n{tails}")
            time.sleep(0.1)


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
        "servers.devidp",
        idp_port,
        workdir / "idp.log",
        _child_env(
            {
                "IDP_HOST": HOST,
                "IDP_PORT": str(idp_port),
                "IDP_ISSUER": issuer,
                "IDP_KEY_DIR": str(key_dir),
                "IDP_DATABASE_URL": database_url,
            }
        ),
    )
    data = ServerProcess(
        "data server",
        "servers.data",
        data_port,
        workdir / "data.log",
        _child_env(
            {
                "DATA_HOST": HOST,
                "DATA_PORT": str(data_port),
                "DATA_PUBLIC_URL": f"http://{HOST}:{data_port}",
                "DATA_DATABASE_URL": database_url,
                "DATA_AUTH_ISSUER": issuer,
            }
        ),
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
            server.start(workdir)
        _wait_healthy(stack.servers)
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
        await seed(db, date.today())
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
        "servers.payment",
        port,
        http_stack.workdir / "payment.log",
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
    )
    http_stack.servers.append(server)
    server.start(http_stack.workdir)
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
        self.ticket.start(self.base.workdir)
        _wait_healthy([self.ticket])


@pytest.fixture(scope="module")
def full_stack(pg: EmbeddedPostgres, template_db: str) -> Generator[FullStack, None, None]:
    """The whole stack as separate processes on free ports, ready to call."""
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
            "servers.payment",
            payment_port,
            workdir / "payment.log",
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
        )
        sink = ServerProcess(
            "SMTP sink",
            "ticketing.mailsink",
            sink_http_port,  # where /health is; SMTP is on smtp_port
            workdir / "mailsink.log",
            _child_env(
                {
                    "MAIL_SINK_HOST": HOST,
                    "MAIL_SINK_PORT": str(smtp_port),
                    "MAIL_SINK_HTTP_PORT": str(sink_http_port),
                    "MAIL_SINK_DIR": str(mail_dir),
                }
            ),
        )
        notify = ServerProcess(
            "notify server",
            "servers.notify",
            notify_port,
            workdir / "notify.log",
            _child_env(
                {
                    **server_env("NOTIFY", notify_port),
                    "NOTIFY_SMTP_HOST": HOST,
                    "NOTIFY_SMTP_PORT": str(smtp_port),
                    "NOTIFY_WORKER_POLL_SECONDS": "0.2",
                }
            ),
        )
        ticket = ServerProcess(
            "ticket server",
            "servers.ticket",
            ticket_port,
            workdir / "ticket.log",
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
        )
        started = [payment, sink, notify, ticket]
        base.servers.extend(started)  # stopped, newest first, with the base stack
        for server in started:
            server.start(workdir)
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
