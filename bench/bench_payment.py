"""How many payment confirmations per second does the payment server take, and how fast?

``python -m bench.bench_payment [--confirms 3000] [--warmup 200] [--concurrency 16]``

Starts a throwaway embedded PostgreSQL (migrated), the dev identity provider and the payment
server, each in its own process, and creates ``--warmup + --confirms`` payment intents in
process. Then ``--concurrency`` clients (asyncio tasks, each with its own keep-alive
``httpx.AsyncClient``) take intents from a shared queue and POST a raw JSON-RPC ``tools/call
confirm_payment_intent`` with ``pm_card_visa`` and a fresh idempotency key, as fast as they can.
Every answer must be HTTP 200 with a ``succeeded`` intent, and afterwards every intent must hold
exactly one successful charge of its amount; anything else fails the run (exit 1).

Before the confirmations, the same clients send as many JSON-RPC ``ping`` requests (the token
checked, the MCP framing, no tool and no database): the floor of any call to this server in this
run, printed beside the confirmations so that a busy machine still shows the ratio.

Printed: confirms/s over the measured confirms (those after the warm-up ones), p50 and p99
latency, the CPU each process spent per confirmation (the payment server, PostgreSQL, the
identity provider, this process's clients), the pings/s baseline and the consistency check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.lib import Children, raise_on_term, say, start_idp, tree_cpu_seconds
from servers.core.db.postgres import PostgresDatabase
from servers.core.scopes import OPS_SCOPES
from servers.devidp.tokens import mint_access_token
from servers.payment.service import TRUSTED, PaymentService
from ticketing.db import migrate_all
from ticketing.pg import EmbeddedPostgres
from ticketing.procs import free_ports

AMOUNT = 2500
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_payment",
        description="Benchmark confirm_payment_intent on the payment server.",
    )
    parser.add_argument("--confirms", type=int, default=3000, help="measured confirmations")
    parser.add_argument("--warmup", type=int, default=200, help="confirmations not measured")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    args = parser.parse_args(argv)
    if args.confirms < 1 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--confirms and --concurrency must be >= 1, --warmup >= 0")
    return args


def percentile_ms(latencies: list[float], p: float) -> float:
    ordered = sorted(latencies)
    return 1000 * ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def problem_with(response: httpx.Response) -> str | None:
    """Why this answer is not a succeeded payment, or None when it is one."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    result = response.json().get("result") or {}
    structured = result.get("structuredContent") or {}
    if result.get("isError") or structured.get("status") != "succeeded":
        return f"not succeeded: {json.dumps(result)[:300]}"
    return None


async def create_intents(database_url: str, count: int) -> list[str]:
    db = await PostgresDatabase(database_url, max_size=8).open()
    try:
        service = PaymentService(db, fingerprint_key=b"bench")
        ids: list[str] = []

        async def create(batch: int) -> None:
            for _ in range(batch):
                intent = await service.create_payment_intent(
                    TRUSTED,
                    amount_cents=AMOUNT,
                    currency="USD",
                    description="bench",
                    customer_ref=None,
                    metadata={},
                    idempotency_key=f"bench-{uuid.uuid4().hex}",
                )
                ids.append(intent.id)

        share, rest = divmod(count, 8)
        await asyncio.gather(*(create(share + (i < rest)) for i in range(8)))
        return ids
    finally:
        await db.close()


async def consistency(database_url: str) -> list[dict[str, Any]]:
    """Intents that do not hold exactly one successful charge of their amount."""
    db = await PostgresDatabase(database_url, max_size=1).open()
    try:
        async with db.transaction() as tx:
            return await tx.fetch_all(
                "SELECT i.payment_intent_id, i.status, count(c.*) AS charges, "
                " COALESCE(sum(c.amount_cents), 0) AS charged "
                "FROM payment.payment_intents i "
                "LEFT JOIN payment.charges c "
                " ON c.payment_intent_id = i.payment_intent_id AND c.status = 'succeeded' "
                "GROUP BY i.payment_intent_id, i.status, i.amount_cents "
                "HAVING i.status <> 'succeeded' OR count(c.*) <> 1 "
                " OR COALESCE(sum(c.amount_cents), 0) <> i.amount_cents"
            )
    finally:
        await db.close()


def confirm_body(index: int, intent_id: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": index,
        "method": "tools/call",
        "params": {
            "name": "confirm_payment_intent",
            "arguments": {
                "payment_intent_id": intent_id,
                "payment_method": "pm_card_visa",
                "idempotency_key": f"bench-{uuid.uuid4().hex}",
            },
        },
    }


def ping_body(index: int, intent_id: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": index, "method": "ping"}


def ping_problem(response: httpx.Response) -> str | None:
    if response.status_code != 200 or "result" not in response.json():
        return f"HTTP {response.status_code}: {response.text[:300]}"
    return None


async def confirm_all(
    url: str,
    token: str,
    intents: list[str],
    warmup: int,
    concurrency: int,
    body_of: Callable[[int, str], dict[str, Any]] = confirm_body,
    problem_of: Callable[[httpx.Response], str | None] = problem_with,
) -> tuple[list[float], float, list[str]]:
    """Latencies of the measured requests (confirmations unless ``body_of`` makes others),
    their wall time, and the problems seen."""
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for index, intent_id in enumerate(intents):
        queue.put_nowait((index, intent_id))
    latencies: list[float] = []
    problems: list[str] = []
    measured: list[float] = []  # first start and last end of a measured confirmation
    headers = {**HEADERS, "Authorization": f"Bearer {token}"}

    async def client() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(timeout=60, trust_env=False, limits=limits) as http:
            while not queue.empty():
                index, intent_id = queue.get_nowait()
                body = body_of(index, intent_id)
                began = time.perf_counter()
                try:
                    response = await http.post(url, json=body, headers=headers)
                except httpx.HTTPError as exc:
                    problems.append(f"{type(exc).__name__}: {exc}")
                    continue
                done = time.perf_counter()
                problem = problem_of(response)
                if problem is not None:
                    problems.append(problem)
                elif index >= warmup:
                    latencies.append(done - began)
                    measured.extend((began, done))

    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = max(measured) - min(measured) if measured else math.nan
    return latencies, wall, problems


@dataclass
class CpuPerRequest:
    """CPU each process spent over a phase, per request of it (warm-up ones included)."""

    requests: int
    micros: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return ", ".join(f"{name} {value:.0f}" for name, value in self.micros.items())


@contextmanager
def cpu_per_request(pids: dict[str, int | None], requests: int) -> Iterator[CpuPerRequest]:
    """The processes' CPU (and this process's: the clients) over the ``with`` block."""
    result = CpuPerRequest(requests)
    before = {name: tree_cpu_seconds(pid) for name, pid in pids.items() if pid}
    own = time.process_time()
    yield result
    own = time.process_time() - own
    for name, start in before.items():
        end = tree_cpu_seconds(pids[name] or 0)
        if start is not None and end is not None:
            result.micros[name] = 1e6 * (end - start) / requests
    result.micros["bench clients"] = 1e6 * own / requests


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_on_term)
    # As root, PostgreSQL runs as an unprivileged user who must reach its data directory.
    base = Path(tempfile.mkdtemp(prefix="bench-payment-"))
    base.chmod(0o755)
    (base / "logs").mkdir()
    children = Children(base / "logs")
    try:
        code = _run(args, base, children)
    except KeyboardInterrupt:
        say("\nInterrupted; stopping everything.")
        return 130
    finally:
        children.stop()
    if code == 0:
        shutil.rmtree(base, ignore_errors=True)
    else:
        say(f"Logs of the servers are in {base / 'logs'}")
    return code


def _run(args: argparse.Namespace, base: Path, children: Children) -> int:
    say(
        f"confirm_payment_intent benchmark: {args.concurrency} concurrent clients, "
        f"{args.warmup} warm-up + {args.confirms} measured confirmations with pm_card_visa"
    )
    say("==> Starting PostgreSQL (throwaway) and migrating")
    with EmbeddedPostgres(base / "pg", persistent=False, log=lambda m: say(f"    {m}")) as pg:
        pg.create_database("ticketing")
        database_url = pg.url("ticketing")

        async def prepare() -> list[str]:
            db = await PostgresDatabase(database_url, max_size=2).open()
            try:
                await migrate_all(db)
            finally:
                await db.close()
            return await create_intents(database_url, args.warmup + args.confirms)

        started = time.perf_counter()
        intents = asyncio.run(prepare())
        say(f"    {len(intents)} intents created in {time.perf_counter() - started:.1f} s")

        idp_port, payment_port = free_ports(2)
        say("==> Starting the dev identity provider and the payment server")
        issuer, key = start_idp(children, base, database_url, idp_port)
        idp = children.children[-1]
        payment = children.start(
            "payment server",
            ["-m", "servers.payment"],
            payment_port,
            {
                "DEV_MODE": "1",
                "PAYMENT_PORT": str(payment_port),
                "PAYMENT_PUBLIC_URL": f"http://127.0.0.1:{payment_port}",
                "PAYMENT_DATABASE_URL": database_url,
                "PAYMENT_AUTH_ISSUER": issuer,
            },
        )
        children.wait_healthy()
        token = mint_access_token(
            key=key, issuer=issuer, sub="ops", client_id="ops", scopes=OPS_SCOPES, ttl=6 * 3600
        )
        url = f"{payment.base_url}/mcp"
        pids = {"payment": payment.pid, "postgres": pg.pid, "identity provider": idp.pid}
        say("==> Baseline: JSON-RPC ping (HTTP, token and MCP framing; no tool, no database)")
        with cpu_per_request(pids, len(intents)) as ping_cpu:
            pings, ping_wall, ping_problems = asyncio.run(
                confirm_all(
                    url, token, intents, args.warmup, args.concurrency, ping_body, ping_problem
                )
            )
        say("==> Confirming")
        with cpu_per_request(pids, len(intents)) as confirm_cpu:
            latencies, wall, problems = asyncio.run(
                confirm_all(url, token, intents, args.warmup, args.concurrency)
            )
        children.check_alive()
        inconsistent = asyncio.run(consistency(database_url))

    say()
    problems += ping_problems
    say(f"    CPU per ping (µs):         {ping_cpu.summary()}")
    say(f"    CPU per confirmation (µs): {confirm_cpu.summary()}")
    if pings:
        p50 = percentile_ms(pings, 50)
        say(
            f"    pings/s    {len(pings) / ping_wall:8.1f}    p50 {p50:6.1f} ms"
            "    (the baseline: the same clients)"
        )
    if latencies:
        p50, p99 = percentile_ms(latencies, 50), percentile_ms(latencies, 99)
        say(
            f"    confirms/s {len(latencies) / wall:8.1f}    p50 {p50:6.1f} ms    p99 {p99:6.1f} ms"
            f"    ({len(latencies)} measured, {args.concurrency} clients)"
        )
    say(f"    errors {len(problems)}; intents without exactly one charge: {len(inconsistent)}")
    if latencies and pings:
        say(f"    confirms/s / pings/s: {(len(latencies) / wall) / (len(pings) / ping_wall):.2f}")
    for problem in problems[:5]:
        say(f"      {problem}")
    for row in inconsistent[:5]:
        say(f"      {row}")
    return 1 if problems or inconsistent or not latencies else 0


if __name__ == "__main__":
    raise SystemExit(main())
