"""Does another customer's ticket or order take as long to refuse as one that does not exist?

``python -m bench.bench_not_found [--calls 400] [--warmup 50]``

The issue asks that another customer's ticket or order answer exactly like a missing one: same
code, same message shape, similar time. Tests check the first two and that both take the same
calls to the data server (``tests/ticket/test_service.py``); times are measured here, since timed
asserts do not belong in tests.

Starts a throwaway embedded PostgreSQL (migrated and seeded), then in this one process the data,
payment and notify servers and the ticket server, each in memory (fastmcp ``Client`` bound to
the server, as the tests do), logging as deployed (``configure_logging`` at INFO, to a file).
Jane (through the in-process operator caller, naming her) asks the ticket server's
``get_ticket`` and ``get_upgrade_order`` for John's ticket and order ("theirs") and for ones that
do not exist ("missing"), the two kinds interleaved (ABAB, then BABA, ...), one call at a time.
Every answer must be the ``TICKET_NOT_FOUND``/``ORDER_NOT_FOUND`` error, else the run fails.

Printed per tool and kind: calls, mean, p50, p90 and p99 latency in ms, then the ratios theirs
over missing of the mean and p50. The in-memory transport leaves out the network, so the
differences the servers themselves make are not hidden by network jitter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastmcp import Client

from bench.lib import throwaway_postgres
from servers.core.auth import Principal, acting_as
from servers.core.client import ServiceClient
from servers.core.db.postgres import PostgresDatabase
from servers.core.logs import configure_logging
from servers.data.seed import seed_id
from servers.data.server import build_server as build_data_server
from servers.data.service import DataService
from servers.notify.server import build_server as build_notify_server
from servers.notify.service import NotifyService
from servers.payment.server import build_server as build_payment_server
from servers.payment.service import PaymentService
from servers.ticket.gateways import DataGateway, NotifyGateway, PaymentGateway
from servers.ticket.journey import Journey
from servers.ticket.server import build_server as build_ticket_server
from servers.ticket.service import Caller, TicketService

TICKET_SERVER = Principal("ticket-server")
"""The in-memory servers are called as the ticket server would call them over HTTP."""

JOHN = seed_id("cus", "john.doe@example.com")
JANE = seed_id("cus", "jane.smith@example.com")
THEIRS, MISSING = "theirs", "missing"


@dataclass(frozen=True)
class Probe:
    tool: str
    code: str
    args: dict[str, dict[str, Any]]
    """The arguments per kind."""


@contextlib.asynccontextmanager
async def ticket_client(url: str) -> AsyncIterator[tuple[Client[Any], str]]:
    """The ticket server in memory over the real data, payment and notify servers; and the id
    of an order of John's awaiting payment."""
    db = await PostgresDatabase(url, max_size=10).open()
    try:
        data = DataService(db)
        payments = PaymentService(db, fingerprint_key=b"bench-fingerprint-key")
        notify = NotifyService(db, sender="upgrades@example.com", message_id_domain="example.com")
        async with (
            ServiceClient(Client(build_data_server(data)), caller=TICKET_SERVER) as data_client,
            ServiceClient(
                Client(build_payment_server(payments)), caller=TICKET_SERVER
            ) as payment_client,
            ServiceClient(
                Client(build_notify_server(notify)), caller=TICKET_SERVER
            ) as notify_client,
        ):
            gateway = DataGateway(data_client)
            tickets = TicketService(gateway, venue_tz=ZoneInfo("UTC"))
            journey = Journey(
                tickets, gateway, PaymentGateway(payment_client), NotifyGateway(notify_client)
            )
            order = await journey.select_upgrade(
                Caller(customer_id=JOHN),
                "TKT-JD0001",
                "standard",
                date.today() + timedelta(days=5),
                "bench-not-found-01",
            )
            server = build_ticket_server(tickets, journey, operator_client_ids=frozenset())
            # Jane asks, with her own token, for John's things and for things that do not exist.
            with acting_as(Principal("web", JANE)):
                async with Client(server) as client:
                    yield client, order.order_id
    finally:
        await db.close()


async def call(client: Client[Any], probe: Probe, kind: str) -> float:
    started = time.perf_counter()
    result = await client.call_tool(probe.tool, probe.args[kind], raise_on_error=False)
    seconds = time.perf_counter() - started
    text = " ".join(getattr(block, "text", "") for block in result.content)
    if not result.is_error or not text.startswith(f"{probe.code}: "):
        raise SystemExit(f"{probe.tool} ({kind}) answered {text[:200]!r}, not {probe.code}")
    return seconds


async def measure(url: str, calls: int, warmup: int) -> dict[tuple[str, str], list[float]]:
    times: dict[tuple[str, str], list[float]] = {}
    async with ticket_client(url) as (client, johns_order):
        probes = [
            Probe(
                "get_ticket",
                "TICKET_NOT_FOUND",
                {
                    THEIRS: {"ticket_number": "TKT-JD0001"},
                    MISSING: {"ticket_number": "TKT-JD9999"},
                },
            ),
            Probe(
                "get_upgrade_order",
                "ORDER_NOT_FOUND",
                {
                    THEIRS: {"order_id": johns_order},
                    MISSING: {"order_id": seed_id("ord", "no such order")},
                },
            ),
        ]
        for probe in probes:
            for i in range(warmup + calls):
                order = (THEIRS, MISSING) if i % 2 == 0 else (MISSING, THEIRS)
                for kind in order:
                    seconds = await call(client, probe, kind)
                    if i >= warmup:
                        times.setdefault((probe.tool, kind), []).append(seconds)
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(times: dict[tuple[str, str], list[float]]) -> None:
    print(f"{'tool':<18} {'kind':<8} {'calls':>6} {'mean':>8} {'p50':>8} {'p90':>8} {'p99':>8}")
    tools = sorted({tool for tool, _ in times})
    for tool in tools:
        for kind in (THEIRS, MISSING):
            ms = [t * 1000 for t in times[(tool, kind)]]
            print(
                f"{tool:<18} {kind:<8} {len(ms):>6} {statistics.fmean(ms):>6.2f}ms "
                f"{percentile(ms, 0.5):>6.2f}ms {percentile(ms, 0.9):>6.2f}ms "
                f"{percentile(ms, 0.99):>6.2f}ms"
            )
    for tool in tools:
        theirs, missing = times[(tool, THEIRS)], times[(tool, MISSING)]
        mean = statistics.fmean(theirs) / statistics.fmean(missing)
        p50 = percentile(theirs, 0.5) / percentile(missing, 0.5)
        print(f"{tool}: theirs/missing mean {mean:.3f}, p50 {p50:.3f}")


def run(args: argparse.Namespace, base: Path) -> int:
    with throwaway_postgres(base) as (_, url):
        print(
            f"get_ticket and get_upgrade_order as Jane: John's ('theirs') vs missing, "
            f"{args.calls} calls each after {args.warmup} warm-up, interleaved, in memory",
            flush=True,
        )
        # Logging as the servers are deployed (JSON at INFO), but to a file, not this terminal.
        with (base / "servers.log").open("w") as log:
            with contextlib.redirect_stderr(log):
                configure_logging("INFO", service="bench")
            times = asyncio.run(measure(url, args.calls, args.warmup))
            logging.shutdown()
        report(times)
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="measured calls per tool and kind")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up calls per tool and kind")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.warmup < 0:
        parser.error("--calls must be >= 1 and --warmup >= 0")
    base = Path(tempfile.mkdtemp(prefix="bench-not-found-"))
    base.chmod(0o755)  # the embedded PostgreSQL may run as another user
    try:
        return run(args, base)
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


if __name__ == "__main__":
    sys.exit(main())
