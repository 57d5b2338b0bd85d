"""``ticketing run`` (what ``make run`` runs): starts everything, reports ready, restarts a
part that dies, and leaves nothing behind when stopped by SIGTERM or killed outright. Each stack
takes 20-40 s to start on two busy cores, so a test checks all it can on the stacks it starts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from servers.core.settings import canonical_issuer
from servers.devidp.keys import SigningKey, load_or_create_signing_key
from servers.devidp.tokens import mint_access_token
from servers.notify.rendering import SPECS
from ticketing.procs import alive, descendants, free_ports

pytestmark = pytest.mark.http


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class RunningStack:
    def __init__(
        self,
        workdir: Path,
        *,
        data_port: int | None = None,
        database_url: str | None = None,
        extra_env: dict[str, str] | None = None,
    ):
        self.workdir = workdir
        # In one call, each held until all are picked: ports picked one by one can repeat (a
        # run under load gave the SMTP sink and the host the same one).
        ports = free_ports(8)
        self.idp_port, self.notify_port, self.mail_port, self.payment_port = ports[:4]
        self.host_port, sink_http_port, ticket_port = ports[4:7]
        self.data_port = data_port or ports[7]
        env = {
            **os.environ,
            "IDP_PORT": str(self.idp_port),
            "DATA_PORT": str(self.data_port),
            "NOTIFY_PORT": str(self.notify_port),
            "MAIL_SINK_PORT": str(self.mail_port),
            "MAIL_SINK_HTTP_PORT": str(sink_http_port),
            "PAYMENT_PORT": str(self.payment_port),
            "TICKET_PORT": str(ticket_port),
            "HOST_PORT": str(self.host_port),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        env.pop("DATABASE_URL", None)
        if database_url:
            env["DATABASE_URL"] = database_url
        self.output = workdir / "run.out"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ticketing.cli", "run"],
            cwd=workdir,
            env=env,
            stdout=self.output.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_ready(self) -> None:
        wait_until(lambda: "Ready." in self.text() or self.proc.poll() is not None, 120, "Ready.")
        assert "Ready." in self.text(), self.text()


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Reachable by the unprivileged user PostgreSQL runs as when the tests run as root.
    path = Path(tempfile.mkdtemp(prefix="ticketing-stack-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=True)


def test_run_serves_everything_and_sigterm_stops_it_all(workdir: Path) -> None:
    stack = RunningStack(workdir)
    try:
        stack.wait_ready()
        out = stack.text()
        assert f"http://127.0.0.1:{stack.data_port}/mcp" in out
        assert "ticketing token --user" in out
        children = descendants(stack.proc.pid)
        assert len(children) >= 5, "postgres, identity provider, data and notify, SMTP sink"

        assert httpx.get(f"http://127.0.0.1:{stack.data_port}/health").json()["status"] == "ok"
        payment = httpx.get(f"http://127.0.0.1:{stack.payment_port}/health").json()
        assert payment == {"status": "ok", "service": "payment"}
        key = load_or_create_signing_key(workdir / ".dev" / "idp")
        token = mint_access_token(
            key=key,
            issuer=canonical_issuer(f"http://127.0.0.1:{stack.idp_port}"),
            sub="ops",
            client_id="ops",
            scopes=["data/read"],
        )
        reply = httpx.post(
            f"http://127.0.0.1:{stack.data_port}/mcp",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json, text/event-stream",
            },
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "get_ticket", "arguments": {"ticket_number": "TKT-JD0001"}},
            },
        )
        assert reply.json()["result"]["structuredContent"]["ticket_type"] == "general"

        # A visitor's price page: the host calls the ticket server with its own token.
        visit = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
        price = httpx.post(
            f"http://127.0.0.1:{stack.host_port}/api/catalogue/quote_price",
            json={"ticket_type": "general", "tier": "standard", "date": visit},
        )
        assert price.status_code == 200, price.text
        assert price.json()["total_cents"] > 0

        assert f"smtp://127.0.0.1:{stack.mail_port}" in out
        message = send_confirmation(stack, key)
        wait_until(lambda: bool(mail_list(workdir)), 30, "the e-mail to reach the sink")
        [received] = mail_list(workdir)
        assert received["message_id"] == message["header_message_id"]
        assert received["to"] == "john.doe@example.com"
        assert received["subject"] == message["subject"]
        assert set(received) == {"message_id", "to", "subject", "received_at", "copies"}
        assert received["copies"] == 1
    finally:
        stack.proc.send_signal(signal.SIGTERM)
        stack.proc.wait(timeout=60)
    wait_until(lambda: not any(alive(p) for p in children), 30, "children to exit")
    assert "Stopped." in stack.text()


def send_confirmation(stack: RunningStack, key: SigningKey) -> dict[str, Any]:
    """Sends through the running notify server; first with a read-only token, which it refuses."""

    def post(scope: str) -> httpx.Response:
        token = mint_access_token(
            key=key,
            issuer=canonical_issuer(f"http://127.0.0.1:{stack.idp_port}"),
            sub="ops",
            client_id="ops",
            scopes=[scope],
        )
        arguments = {
            "template": "upgrade_confirmed",
            "to": "john.doe@example.com",
            "context": SPECS["upgrade_confirmed"].example,
            "idempotency_key": "stack-test-0001",
        }
        return httpx.post(
            f"http://127.0.0.1:{stack.notify_port}/mcp",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json, text/event-stream",
            },
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "send_email", "arguments": arguments},
            },
        )

    refused = post("notify/read")
    assert refused.status_code == 403
    assert "insufficient_scope" in refused.headers["www-authenticate"]
    result: dict[str, Any] = post("notify/send").json()["result"]["structuredContent"]
    return result


def mail_list(workdir: Path) -> list[dict[str, Any]]:
    listed = subprocess.run(
        [sys.executable, "-m", "ticketing.cli", "mail", "list", "--json"],
        cwd=workdir,
        capture_output=True,
        check=True,
        text=True,
    )
    found: list[dict[str, Any]] = json.loads(listed.stdout)
    return found


def test_killed_parts_restart_a_killed_run_leaves_no_orphans_and_the_next_keeps_the_data(
    workdir: Path,
) -> None:
    first = RunningStack(workdir)
    try:
        first.wait_ready()
        _kill_the_data_server_and_postgresql_and_see_them_restarted(first)
        children = descendants(first.proc.pid)
        first.proc.kill()
    finally:
        if first.proc.poll() is None:  # a check above failed: stop it the usual way
            first.proc.send_signal(signal.SIGTERM)
        first.proc.wait(timeout=60)
    wait_until(lambda: not any(alive(p) for p in children), 60, "orphans to exit")

    second = RunningStack(workdir)
    try:
        second.wait_ready()
        assert "Creating PostgreSQL cluster" not in second.text()
        assert "0 migrations applied, 0 seed rows inserted" in second.text()
    finally:
        second.proc.send_signal(signal.SIGTERM)
        second.proc.wait(timeout=60)


def test_a_taken_port_stops_the_run_before_anything_starts(workdir: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        # The ticket server starts last: its port used to be checked after everything else ran.
        stack = RunningStack(workdir, extra_env={"TICKET_PORT": str(taken)})
        assert stack.proc.wait(timeout=120) != 0
    out = stack.text()
    assert f"port {taken}, where the ticket server should listen (TICKET_PORT=...)" in out
    assert "Nothing was started" in out
    assert "Starting" not in out
    assert not (workdir / ".dev" / "pg").exists()
    assert "Traceback" not in out


def _child_running(stack: RunningStack, module: str) -> int:
    for pid in descendants(stack.proc.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if module.encode() in argv:
            return pid
    raise AssertionError(f"no process runs {module}")


def _ops_get_ticket(stack: RunningStack, key: SigningKey) -> httpx.Response:
    token = mint_access_token(
        key=key,
        issuer=canonical_issuer(f"http://127.0.0.1:{stack.idp_port}"),
        sub="ops",
        client_id="ops",
        scopes=["data/read"],
    )
    return httpx.post(
        f"http://127.0.0.1:{stack.data_port}/mcp",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
        },
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "get_ticket", "arguments": {"ticket_number": "TKT-JD0001"}},
        },
        timeout=10,
    )


def _serves(stack: RunningStack, key: SigningKey) -> bool:
    try:
        reply = _ops_get_ticket(stack, key)
    except httpx.HTTPError:
        return False
    if reply.status_code != 200:
        return False
    result = reply.json().get("result", {})
    return bool(result.get("structuredContent", {}).get("ticket_number") == "TKT-JD0001")


def _kill_the_data_server_and_postgresql_and_see_them_restarted(stack: RunningStack) -> None:
    key = load_or_create_signing_key(stack.workdir / ".dev" / "idp")
    assert _serves(stack, key)

    data = _child_running(stack, "servers.data")
    os.kill(data, signal.SIGKILL)
    wait_until(lambda: "The data server stopped" in stack.text(), 30, "the crash noticed")
    wait_until(lambda: _serves(stack, key), 120, "the data server to serve again")
    assert _child_running(stack, "servers.data") != data

    pid_file = stack.workdir / ".dev" / "pg" / "postmaster.pid"
    postmaster = int(pid_file.read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)
    wait_until(lambda: "The PostgreSQL server stopped" in stack.text(), 30, "the crash noticed")
    wait_until(lambda: "the PostgreSQL server restarted" in stack.text(), 120, "PostgreSQL back")
    wait_until(lambda: _serves(stack, key), 120, "the data server to read from it again")
    assert int(pid_file.read_text().split()[0]) != postmaster
    out = stack.text()
    assert "The data server stopped (killed by SIGKILL); restarting it in" in out
    assert "The PostgreSQL server stopped (killed by SIGKILL); restarting it in" in out
    assert stack.proc.poll() is None, "the stack itself keeps running"
    assert "Traceback" not in out


@pytest.mark.skipif(os.geteuid() != 0, reason="PostgreSQL runs as another user only for root")
def test_as_root_in_a_private_directory_the_cluster_lives_where_postgresql_can_reach_it(
    workdir: Path,
) -> None:
    workdir.chmod(0o700)  # what `mktemp -d` and /root give
    stack = RunningStack(workdir)
    home: Path | None = None
    try:
        stack.wait_ready()
        out = stack.text()
        [line] = [line for line in out.splitlines() if "Starting PostgreSQL (data in" in line]
        home = Path(line.split("(data in ", 1)[1].rstrip(")"))
        assert home.parent.parent == Path("/var/tmp")
        assert home.parent.name.startswith("ticketing-")
        assert (home / "PG_VERSION").exists()
        assert not (workdir / ".dev" / "pg").exists()
        assert "cannot reach this checkout" in out
    finally:
        stack.proc.send_signal(signal.SIGTERM)
        stack.proc.wait(timeout=60)
        if home is not None:
            subprocess.run(["rm", "-rf", str(home.parent)], check=True)
    assert "Stopped." in stack.text()


def test_database_url_switches_to_another_postgresql(workdir: Path, database_url: str) -> None:
    stack = RunningStack(workdir, database_url=database_url)
    try:
        stack.wait_ready()
        out = stack.text()
        assert "Using the PostgreSQL at DATABASE_URL" in out
        assert "0 migrations applied, 20 seed rows inserted" in out
        assert not (workdir / ".dev" / "pg").exists()
    finally:
        stack.proc.send_signal(signal.SIGTERM)
        stack.proc.wait(timeout=60)
