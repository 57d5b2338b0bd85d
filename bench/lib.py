"""What the benches share: their servers as child processes (through :mod:`ticketing.procs`,
the one way the stack and the tests run them too), a throwaway migrated and seeded PostgreSQL,
the dev identity provider, and Ctrl-C/SIGTERM handling."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from servers.core.db.postgres import PostgresDatabase
from servers.core.settings import canonical_issuer
from servers.devidp.keys import SigningKey, load_or_create_signing_key
from ticketing.db import migrate_all, seed_all
from ticketing.pg import EmbeddedPostgres
from ticketing.procs import Child, ChildFailed, parent_death_signal, stop_all, wait_healthy

REPO = Path(__file__).resolve().parents[1]
DATABASE_NAME = "ticketing"
HOST = "127.0.0.1"
# Variables of the caller's shell that would change what a benched server does.
_DROPPED = (
    "DATA_",
    "IDP_",
    "PAYMENT_",
    "NOTIFY_",
    "TICKET_",
    "MAIL_SINK_",
    "DATABASE_URL",
    "DEV_MODE",
    "PYTHONPATH",
)


def say(message: str = "") -> None:
    print(message, flush=True)


def raise_on_term(signum: int, frame: object) -> None:
    """A SIGTERM handler: stop the way Ctrl-C does, so every child gets stopped."""
    raise KeyboardInterrupt


def spawn_own_session(
    argv: list[str], *, cwd: Path, env: Mapping[str, str], output: Path
) -> subprocess.Popen[bytes]:
    """``python ARGV`` writing to ``output``, in a session of its own: Ctrl-C reaches only this
    process, which then stops it with one SIGTERM; and it gets SIGTERM should this process die."""
    with output.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, *argv],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=parent_death_signal(),
        )


def clean_environ(dropped: tuple[str, ...] = _DROPPED) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


@dataclass
class Server(Child):
    """A benched server listening on ``HOST:port``."""

    port: int = 0

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"the {self.name} has not been started")
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass
class Children:
    """Server processes of this run; each logs to its own file and dies with this process."""

    log_dir: Path
    children: list[Server] = field(default_factory=list)

    def start(self, name: str, argv: list[str], port: int, env: Mapping[str, str]) -> Server:
        server = Server(
            name,
            argv,
            {**clean_environ(), "PYTHONPATH": str(REPO), **env},
            self.log_dir / f"{name.replace(' ', '-')}.log",
            health_url=f"http://{HOST}:{port}/health",
            # Not the repository: a developer's .env there must not change what is measured.
            cwd=self.log_dir,
            port=port,
        )
        server.start()
        self.children.append(server)
        return server

    def wait_healthy(self, timeout: float = 60.0) -> None:
        try:
            wait_healthy(self.children, timeout)
        except ChildFailed as exc:
            raise SystemExit(f"The servers did not start: {exc}") from None

    def check_alive(self) -> None:
        for server in self.children:
            if not server.running():
                raise SystemExit(
                    f"The {server.name} stopped (status {server.returncode}):\n{server.log_tail()}"
                )

    def stop(self) -> None:
        stop_all(self.children)
        self.children.clear()


def start_idp(
    children: Children, base: Path, database_url: str, port: int
) -> tuple[str, SigningKey]:
    """The dev identity provider on ``port``, keys under ``base``: its issuer and key."""
    issuer = canonical_issuer(f"http://{HOST}:{port}")
    key_dir = base / "idp"
    key = load_or_create_signing_key(key_dir)
    children.start(
        "identity provider",
        ["-m", "servers.devidp"],
        port,
        {
            "DEV_MODE": "1",
            "IDP_PORT": str(port),
            "IDP_ISSUER": issuer,
            "IDP_KEY_DIR": str(key_dir),
            "IDP_DATABASE_URL": database_url,
        },
    )
    return issuer, key


@contextmanager
def throwaway_postgres(base: Path) -> Iterator[tuple[EmbeddedPostgres, str]]:
    """A PostgreSQL under ``base`` (deleted when done) with a migrated, seeded database."""
    pg = EmbeddedPostgres(base / "pg", persistent=False, log=lambda m: say(f"    {m}"))
    with pg:
        pg.create_database(DATABASE_NAME)
        url = pg.url(DATABASE_NAME)

        async def prepare() -> None:
            db = await PostgresDatabase(url, max_size=2).open()
            try:
                await migrate_all(db)
                await seed_all(db, date.today())
            finally:
                await db.close()

        asyncio.run(prepare())
        yield pg, url


# CPU accounting from /proc (Linux; elsewhere the figures read n/a)

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces; the fields after it do not.
    return text[text.rindex(")") + 2 :].split()


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of ``pid``, its reaped children and its live children."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(pid):
            child = _stat_fields(int(entry.name))
            if child is not None and child[1] == str(pid):  # ppid
                ticks += int(child[11]) + int(child[12])
    return ticks / _TICK
