"""How fast does the notify server deliver a burst of e-mails to the SMTP sink?

``python -m bench.bench_notify_burst [--messages 2000] [--concurrency 8] [--batch 20]``

Starts a throwaway embedded PostgreSQL (migrated) and the local SMTP sink (``ticketing.mailsink``),
then twice: queues ``--messages`` confirmation e-mails through ``NotifyService.send_email``
(rendered, validated, one transaction each, as the tool does) and starts a notify server with the
given worker settings, the first time with ``NOTIFY_SMTP_PIPELINING=false`` (the baseline: one
SMTP command at a time), the second with pipelining. Printed for each: how fast the burst was
queued, how fast the server's worker then delivered it (from the server answering ``/health``
until the sink holds every e-mail) and the CPU of each process per e-mail; then the ratio of the
two rates, measured in the same run so that a busy machine still shows it. Duplicates and
messages not ``sent`` are counted; either being non-zero fails the run (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.lib import Children, tree_cpu_seconds
from servers.core.db import fetch_value
from servers.core.db.postgres import PostgresDatabase
from servers.notify.rendering import SPECS
from servers.notify.service import NotifyService
from ticketing.db import migrate_all
from ticketing.mailsink import INDEX, Mailbox
from ticketing.pg import EmbeddedPostgres
from ticketing.procs import free_ports, stop_all

HOST = "127.0.0.1"


async def queue_burst(url: str, first: int, count: int) -> float:
    db = await PostgresDatabase(url, max_size=16).open()
    service = NotifyService(db, sender="bench@example.com", message_id_domain="example.com")
    context = SPECS["upgrade_confirmed"].example
    started = time.perf_counter()

    async def one(i: int) -> None:
        await service.send_email(
            template="upgrade_confirmed",
            to=f"guest{i}@example.com",
            context=context,
            idempotency_key=f"bench-{i:08d}",
            reference=None,
            caller="bench",
        )

    try:
        end = first + count
        for chunk in range(first, end, 16):
            await asyncio.gather(*(one(i) for i in range(chunk, min(chunk + 16, end))))
        return time.perf_counter() - started
    finally:
        await db.close()


async def not_sent(url: str) -> int:
    db = await PostgresDatabase(url, max_size=1).open()
    try:
        async with db.transaction() as tx:
            return int(
                await fetch_value(tx, "SELECT count(*) FROM notify.messages WHERE status <> 'sent'")
            )
    finally:
        await db.close()


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@dataclass(frozen=True)
class Phase:
    """One burst delivered by a notify server started for it."""

    label: str
    pipelining: bool


PHASES = (Phase("baseline, one command at a time", False), Phase("pipelined", True))


def run(args: argparse.Namespace, base: Path) -> int:
    with EmbeddedPostgres(base / "pg", persistent=False) as pg:
        pg.create_database("bench")
        url = pg.url("bench")

        async def migrate() -> None:
            db = await PostgresDatabase(url, max_size=1).open()
            try:
                await migrate_all(db)
            finally:
                await db.close()

        asyncio.run(migrate())
        mailbox = Mailbox(base / "mail")
        smtp_port, sink_http = free_ports(2)
        children = Children(base)
        try:
            sink = children.start(
                "sink",
                ["-m", "ticketing.mailsink"],
                sink_http,  # where /health is; SMTP is on smtp_port
                {
                    "DEV_MODE": "1",
                    "MAIL_SINK_PORT": str(smtp_port),
                    "MAIL_SINK_HTTP_PORT": str(sink_http),
                    "MAIL_SINK_DIR": str(mailbox.directory),
                },
            )
            children.wait_healthy()
            rates = []
            for number, phase in enumerate(PHASES):
                rates.append(
                    burst(args, children, phase, number, url, smtp_port, mailbox, sink.pid, pg.pid)
                )
            baseline, pipelined = rates
            print(
                f"pipelined / baseline: {pipelined / baseline:.2f}x "
                f"({pipelined:.0f} /s against {baseline:.0f} /s in this run)"
            )
            copies = Counter(r.message_id for r in mailbox.messages())
            duplicates = sum(n - 1 for n in copies.values())
            missing = asyncio.run(not_sent(url))
            print(f"all phases: duplicates {duplicates}, not sent {missing}")
            return 0 if duplicates == 0 and missing == 0 else 1
        finally:
            children.stop()


def burst(
    args: argparse.Namespace,
    children: Children,
    phase: Phase,
    number: int,
    url: str,
    smtp_port: int,
    mailbox: Mailbox,
    sink_pid: int,
    pg_pid: int | None,
) -> float:
    """Queue a burst, start a notify server, time it until the sink holds the burst; the
    server is stopped again. Returns e-mails delivered per second."""
    first: int = number * args.messages
    queue_seconds = asyncio.run(queue_burst(url, first, args.messages))
    print(
        f"[{phase.label}] queued {args.messages} e-mails in {queue_seconds:.2f} s: "
        f"{args.messages / queue_seconds:.0f} /s (send_email, 16 at a time)"
    )
    port = free_ports(1)[0]
    notify = children.start(
        f"notify-{number}",
        ["-m", "servers.notify"],
        port,
        {
            "DEV_MODE": "1",
            "NOTIFY_PORT": str(port),
            "NOTIFY_DATABASE_URL": url,
            "NOTIFY_SMTP_HOST": HOST,
            "NOTIFY_SMTP_PORT": str(smtp_port),
            "NOTIFY_SMTP_PIPELINING": "true" if phase.pipelining else "false",
            "NOTIFY_WORKER_CONCURRENCY": str(args.concurrency),
            "NOTIFY_WORKER_BATCH": str(args.batch),
            "NOTIFY_LOG_LEVEL": "WARNING",
        },
    )
    try:
        children.wait_healthy()
        pids = {"notify": notify.pid, "sink": sink_pid, "postgres": pg_pid}
        cpu_before = {name: tree_cpu_seconds(pid) for name, pid in pids.items() if pid}
        started = time.perf_counter()
        deadline = started + args.timeout
        index = mailbox.directory / INDEX
        wanted = first + args.messages
        # Counting lines, not parsing them: the poll must not take CPU from what it measures.
        while time.perf_counter() < deadline and _lines(index) < wanted:
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        cpu_after = {name: tree_cpu_seconds(pid) for name, pid in pids.items() if pid}
    finally:
        stop_all([notify])
        children.children.remove(notify)
    delivered = _lines(index) - first
    print(
        f"[{phase.label}] delivered {delivered} e-mails to the sink in {seconds:.2f} s: "
        f"{delivered / seconds:.0f} /s (worker concurrency {args.concurrency}, "
        f"batch {args.batch})"
    )
    per_email = ", ".join(
        f"{name} {1e6 * (after - before) / max(1, delivered):.0f}"
        for name, before in cpu_before.items()
        if before is not None and (after := cpu_after.get(name)) is not None
    )
    print(f"[{phase.label}] CPU per e-mail delivered (µs): {per_email}")
    return delivered / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="e-mails in the burst")
    parser.add_argument("--concurrency", type=int, default=8, help="NOTIFY_WORKER_CONCURRENCY")
    parser.add_argument("--batch", type=int, default=20, help="NOTIFY_WORKER_BATCH")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after seconds")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    base.chmod(0o755)  # the embedded PostgreSQL may run as another user
    try:
        return run(args, base)
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


if __name__ == "__main__":
    sys.exit(main())
