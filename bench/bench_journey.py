"""How fast is a whole upgrade journey on the ticket server, with no LLM in the loop?

``python -m bench.bench_journey [--seconds 20] [--customers 8] [--tickets N] [--warmup 2]
[--hop-delay-ms 20]``

Starts the whole stack as ``ticketing run`` (what ``make run`` runs) in a throwaway working
directory, with a free port for every service and no ``DATABASE_URL`` (so its own embedded
PostgreSQL), waits for "Ready." and stops it with SIGTERM at the end (also on Ctrl-C or SIGTERM).

Setup, not timed: with an ``ops`` token on the data server, enough customers for 60 journeys/s
(``--max-rate``), Standard seats for all of them over the calendar's days
(``create_customer``), each holding ``--tickets`` active general tickets (``issue_ticket``, visit
date 30 days out; 3 by default, as a family or a season would), 16 calls at a time, and a
customer token for each. Every journey is a new customer upgrading one of their tickets, so
``list_my_tickets`` lists what a customer has, not every ticket the bench ever upgraded.
``--customers`` journeys run at a time, each on its own keep-alive aiohttp session (one
connection) carrying the token of the customer it serves:
``list_my_tickets`` -> ``get_upgrade_options`` -> ``get_availability_calendar`` (standard) ->
``select_upgrade`` (dates taken round-robin over the calendar, so no date sells out; a unique
idempotency key) -> ``pay_upgrade`` (``pm_card_visa``) -> the order must be confirmed.

The calls are raw JSON-RPC ``tools/call`` POSTs at protocol version 2026-07-28 (what fastmcp's
``Client`` negotiates: the envelope in ``params._meta`` and the ``Mcp-Method``/``Mcp-Name``
headers), not fastmcp's ``Client``: the load generator shares the 2 cores with the servers, and
the raw client spends far less CPU per call, so the figures are the servers' rather than the
client library's. Every answer must be HTTP 200, not ``isError``, and what the journey expects;
anything else fails the run (exit 1).

``--warmup`` journeys per customer first (they include the ticket server fetching its own
tokens from the identity provider and opening its pools), then customers start journeys for
``--seconds`` and finish the ones in flight. Printed: journeys/s, p50/p99 journey latency, p50
(and p99) of each step, the comparison with the prototype (~30 s per journey with its LLM) and
the aim (p50 < 100 ms), and the CPU seconds per journey of each server process of the stack
(``/proc/<pid>/stat`` utime+stime, before and after the measured window).

Internal hops: the ticket server reaches the data, payment and notify servers through
:mod:`bench.hop_proxy` (its ``TICKET_*_URL`` settings point there), which counts every
``tools/call`` it forwards and can delay each one. After the warm-up one journey runs alone and
the calls each of its steps made are printed (deterministic: counts, not timing). The journeys
are then measured twice in the same run, on the same stack: first with no delay (the baseline),
then with ``--hop-delay-ms`` added to every internal call (20 ms by default; 0 skips it), a
stand-in for the AgentCore front door each hop crosses in AWS. Printed for both: p50/p99 per
journey and step, internal calls per journey, and the ratio of the two p50s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from mcp_types.version import LATEST_MODERN_VERSION

from bench.lib import raise_on_term, say, spawn_own_session
from servers.core.client import tool_call_body, tool_call_headers
from servers.core.scopes import CUSTOMER_SCOPES, OPS_SCOPES
from servers.core.settings import canonical_issuer
from servers.devidp.keys import SigningKey, load_or_create_signing_key
from servers.devidp.tokens import mint_access_token
from ticketing.layout import DATABASE_NAME
from ticketing.procs import descendants, free_ports, tail

REPO = Path(__file__).resolve().parents[1]
TIER = "standard"
STEPS = (
    "list_my_tickets",
    "get_upgrade_options",
    "get_availability_calendar",
    "select_upgrade",
    "pay_upgrade",
)
PROTOTYPE_SECONDS = 30.0  # the prototype's journey, driven by its LLM
AIM_P50_MS = 100.0  # the aim for the journey's p50
READY_TIMEOUT = 180.0
SETUP_CONCURRENCY = 16
# Journeys/s the customers created in setup leave room for.
MAX_RATE = 60
# The servers the ticket server calls, each behind its own port of the hop proxy.
HOP_ROUTES = (("data", "DATA_PORT"), ("payment", "PAYMENT_PORT"), ("notify", "NOTIFY_PORT"))
# Variables of the calling shell that would change what ``ticketing run`` starts.
DROPPED_PREFIXES = (
    "DATABASE_URL",
    "TICKETING_",
    "IDP_",
    "DATA_",
    "TICKET_",
    "PAYMENT_",
    "NOTIFY_",
    "MAIL_SINK_",
    "DEV_MODE",
    "PYTHONPATH",
)


class JourneyFailed(Exception):
    """An answer that is not what the journey needs: the run fails."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_journey",
        description="Benchmark the whole upgrade journey on the ticket server (no LLM).",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--customers", type=int, default=8, help="concurrent customers")
    parser.add_argument(
        "--tickets", type=int, default=3, help="active general tickets each customer holds"
    )
    parser.add_argument("--warmup", type=int, default=2, help="warm-up journeys per customer")
    parser.add_argument(
        "--max-rate",
        type=float,
        default=MAX_RATE,
        help="journeys/s the setup makes customers (and seats) for (default %(default)s; a "
        "lower one shortens the setup of a long run)",
    )
    parser.add_argument(
        "--hop-delay-ms",
        type=float,
        default=20.0,
        help="delay added to every internal call in the second measurement (0: no second one)",
    )
    parser.add_argument(
        "--memory-every",
        type=float,
        default=60.0,
        help="seconds between samples of each process's resident memory in the first "
        "measurement (the soak: `--seconds 600 --hop-delay-ms 0`)",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the working directory and its logs"
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.customers < 1 or args.warmup < 0:
        parser.error("--seconds must be > 0, --customers >= 1, --warmup >= 0")
    if args.tickets < 1:
        parser.error("--tickets must be >= 1")
    if args.hop_delay_ms < 0:
        parser.error("--hop-delay-ms must be >= 0")
    if args.memory_every <= 0 or args.max_rate <= 0:
        parser.error("--memory-every and --max-rate must be > 0")
    phases = 2 if args.hop_delay_ms > 0 else 1
    # The warm-up, the lone journey counting hops and each measurement's last journeys in flight.
    args.journeys = args.customers * (args.warmup + phases) + 1
    args.journeys += phases * math.ceil(args.max_rate * args.seconds)
    return args


# --------------------------------------------------------------------------------------------
# The stack: `ticketing run` in a throwaway working directory


@dataclass
class Stack:
    workdir: Path
    ports: dict[str, int]
    proxy_ports: dict[str, int] = field(default_factory=dict)
    """The hop proxy's: its control port and one per server the ticket server calls (none:
    no proxy, the ticket server calls the others directly)."""
    proc: subprocess.Popen[bytes] | None = None
    proxy: subprocess.Popen[bytes] | None = None

    @property
    def output(self) -> Path:
        return self.workdir / "run.out"

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.ports[variable]}/mcp"

    @property
    def issuer(self) -> str:
        return canonical_issuer(f"http://127.0.0.1:{self.ports['IDP_PORT']}")

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_ports['control']}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_PREFIXES)}
        env["PYTHONPATH"] = str(REPO)
        env["PYTHONUNBUFFERED"] = "1"
        env.update({name: str(port) for name, port in self.ports.items()})
        if self.proxy_ports:
            self._start_proxy(env)
            for name, variable in HOP_ROUTES:
                server = variable.removesuffix("_PORT")
                env[f"TICKET_{server}_URL"] = f"http://127.0.0.1:{self.proxy_ports[name]}/mcp"
        self.proc = spawn_own_session(
            ["-m", "ticketing.cli", "run"], cwd=self.workdir, env=env, output=self.output
        )

    def _start_proxy(self, env: dict[str, str]) -> None:
        """The hop proxy, ready before the ticket server starts (it checks the data server's
        health through it)."""
        routes = [
            f"--route={name}={self.proxy_ports[name]}=http://127.0.0.1:{self.ports[variable]}"
            for name, variable in HOP_ROUTES
        ]
        log = self.workdir / "hop-proxy.out"
        self.proxy = spawn_own_session(
            ["-m", "bench.hop_proxy", f"--control={self.proxy_ports['control']}", *routes],
            cwd=self.workdir,
            env=env,
            output=log,
        )
        deadline = time.monotonic() + 30
        while b"hop proxy ready" not in log.read_bytes():
            if self.proxy.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the hop proxy did not start:\n{tail(log, 20)}")
            time.sleep(0.05)

    def text(self) -> str:
        try:
            return self.output.read_text(errors="replace")
        except OSError:
            return ""

    def wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while "Ready." not in self.text():
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"`ticketing run` exited with status {self.proc.returncode}:\n"
                    f"{tail(self.output, 40)}"
                )
            if time.monotonic() > deadline:
                raise SystemExit(f"`ticketing run` not ready after {READY_TIMEOUT:.0f} s")
            time.sleep(0.1)

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise SystemExit(
                f"`ticketing run` stopped (status {self.proc.returncode}):\n{tail(self.output)}"
            )

    def stop(self) -> None:
        self._stop_stack()
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy.send_signal(signal.SIGTERM)
            try:
                self.proxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proxy.kill()
                self.proxy.wait()

    def _stop_stack(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            say("    `ticketing run` did not stop within 60 s of SIGTERM; killing it")
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------------------------
# CPU of the stack's processes, from /proc (Linux)

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, list[str]] | None:
    """The command name and the fields after it of /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used so far (all cores; /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def process_name(pid: int, run_pid: int) -> str | None:
    """Which part of the stack ``pid`` is: ``servers.data``, ``postgres``...; None if none."""
    if pid == run_pid:
        return "ticketing run"
    stat = _stat(pid)
    if stat is None:
        return None
    if stat[0] == "postgres":
        return "postgres"
    argv = _cmdline(pid)
    for flag, module in itertools.pairwise(argv):
        if flag == "-m" and (module.startswith("servers.") or module == "ticketing.mailsink"):
            return module
    return None


def stack_processes(run_pid: int) -> Iterator[tuple[int, str]]:
    """Each process of the stack now, with the part it is (:func:`process_name`)."""
    for pid in {run_pid, *descendants(run_pid)}:
        name = process_name(pid, run_pid)
        if name is not None:
            yield pid, name


def cpu_by_process(run_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of each part of the stack. For PostgreSQL: all its
    processes, plus the children it has reaped (backends that have exited)."""
    ticks: dict[str, int] = {}
    for pid, name in stack_processes(run_pid):
        stat = _stat(pid)
        if stat is None:
            continue
        fields = stat[1]
        used = int(fields[11]) + int(fields[12])  # utime, stime
        if name == "postgres":
            used += int(fields[13]) + int(fields[14])  # cutime, cstime
        ticks[name] = ticks.get(name, 0) + used
    return {name: value / _TICK for name, value in ticks.items()}


PG_SHARED = "postgres: shared memory"
PG_REST = "postgres: the rest"


@dataclass
class MemorySample:
    """The stack's memory at one moment of the window."""

    at: float
    """Seconds into the window."""
    by_part: dict[str, int]
    """Proportional resident bytes (PSS) of each part of the stack (:func:`memory_by_process`)."""
    postgres: dict[int, tuple[str, int]]
    """Each PostgreSQL process: what it is (:func:`postgres_kind`) and its own memory, the
    anonymous pages only it maps (``Pss_Anon``)."""


def memory_by_process(run_pid: int, at: float) -> MemorySample:
    """Proportional resident bytes (PSS, /proc/<pid>/smaps_rollup) of each part of the stack
    now: shared pages are split between the processes sharing them, so PostgreSQL's figure
    (the sum over its processes) counts its shared buffers once, not once per backend.
    PostgreSQL's is also given in two parts: its shared memory (``Pss_Shmem``: the shared
    buffers, a cache of fixed size that fills as the run touches pages) and the rest (its
    processes' own memory, where a leak would show); and process by process, since its sum
    also moves with how many processes there are (the pools' connections, autovacuum's
    workers)."""
    memory: dict[str, int] = {}
    postgres: dict[int, tuple[str, int]] = {}

    def add(name: str, kib: int) -> None:
        memory[name] = memory.get(name, 0) + kib * 1024

    for pid, name in stack_processes(run_pid):
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        fields = {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in lines[1:])}
        add(name, fields["Pss"])
        if name == "postgres":
            add(PG_SHARED, fields["Pss_Shmem"])
            add(PG_REST, fields["Pss"] - fields["Pss_Shmem"])
            postgres[pid] = (postgres_kind(_cmdline(pid)), fields["Pss_Anon"] * 1024)
    return MemorySample(at, memory, postgres)


def postgres_kind(argv: list[str]) -> str:
    """What a PostgreSQL process is, from the title it sets itself ("postgres: checkpointer",
    "postgres: autovacuum worker <database>", "postgres: <user> <database> [local] idle"): a
    connection's title ends in what it is doing, which says nothing of what it is. The
    postmaster keeps its command line."""
    title = " ".join(argv).strip()
    if not title.startswith("postgres: "):
        return "postmaster"
    if "[local]" in title or "(" in title:
        return "connection"
    return title.removeprefix("postgres: ").removesuffix(f" {DATABASE_NAME}")


# --------------------------------------------------------------------------------------------
# Raw JSON-RPC tools/call


class Mcp:
    """Raw ``tools/call`` POSTs on one keep-alive connection, as one caller (its token): the
    request the kit's own service client sends, on aiohttp, whose client CPU per call is a
    quarter of httpx's (what the load generator spends, the servers cannot)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.ids = itertools.count(1)
        self.http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60.0),
            connector=aiohttp.TCPConnector(limit=1),
            trust_env=False,
        )

    async def close(self) -> None:
        await self.http.close()

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """The tool's structured result; JourneyFailed for anything but a successful one."""
        result = await self.answer(tool, **arguments)
        if result.get("isError"):
            raise JourneyFailed(f"{tool}: tool error: {json.dumps(result)[:400]}")
        structured = result.get("structuredContent")
        if not isinstance(structured, dict):
            raise JourneyFailed(f"{tool}: no structured result: {json.dumps(result)[:300]}")
        return structured

    async def answer(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """The tool's result, a tool error included; JourneyFailed for anything else (HTTP,
        JSON-RPC or transport failures)."""
        body = tool_call_body(tool, arguments, next(self.ids), client_name="bench_journey")
        headers = {**tool_call_headers(tool), "Authorization": f"Bearer {self.token}"}
        try:
            async with self.http.post(
                self.url, data=json.dumps(body).encode(), headers=headers
            ) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise JourneyFailed(f"{tool}: {type(exc).__name__}: {exc}") from exc
        if status != 200:
            raise JourneyFailed(f"{tool}: HTTP {status}: {text[:300]}")
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise JourneyFailed(f"{tool}: not JSON: {text[:300]}") from exc
        if not isinstance(payload, dict) or "error" in payload:
            raise JourneyFailed(f"{tool}: JSON-RPC error: {text[:300]}")
        result = payload.get("result")
        if not isinstance(result, dict):
            raise JourneyFailed(f"{tool}: no result: {text[:300]}")
        return result


def expect(condition: bool, what: str, answer: object) -> None:
    if not condition:
        raise JourneyFailed(f"{what}: {json.dumps(answer, default=str)[:400]}")


# --------------------------------------------------------------------------------------------
# Setup (not timed)


@dataclass
class Customer:
    customer_id: str
    tickets: list[str]
    token: str = ""


async def make_room(stack: Stack, ops: str, customer: Customer, seats: int) -> None:
    """Enough Standard seats on the calendar's days for ``seats`` journeys spread over them
    (DatePicker's round-robin), so a long run never meets a sold-out calendar."""
    tickets = Mcp(stack.url("TICKET_PORT"), customer.token)
    data = Mcp(stack.url("DATA_PORT"), ops)
    try:
        calendar = await tickets.call(
            "get_availability_calendar", ticket_number=customer.tickets[0], tier=TIER
        )
        days = [d["date"] for d in calendar["days"] if d["available"]]
        expect(bool(days), "the calendar offers no day", calendar)
        inventory = await data.call(
            "get_date_inventory", start_date=days[0], end_date=days[-1], tier=TIER
        )
        each = math.ceil(seats / len(days)) + 20
        for day in inventory["days"]:
            if day["date"] in days and day["seats_left"] < each:
                capacity = day["held"] + day["sold"] + each
                await data.call("set_capacity", date=day["date"], tier=TIER, capacity=capacity)
    finally:
        await tickets.close()
        await data.close()


async def create_customers(stack: Stack, ops: str, count: int, tickets: int) -> list[Customer]:
    data = Mcp(stack.url("DATA_PORT"), ops)
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    visit = (date.today() + timedelta(days=30)).isoformat()
    run = uuid.uuid4().hex[:8]

    async def call(tool: str, **arguments: Any) -> dict[str, Any]:
        async with gate:
            return await data.call(tool, **arguments)

    async def customer(index: int) -> Customer:
        created = await call(
            "create_customer",
            email=f"bench-{run}-{index}@example.com",
            full_name=f"Bench Customer {index}",
            idempotency_key=f"bench-customer-{run}-{index}",
        )
        customer_id = str(created["customer_id"])
        issued = await asyncio.gather(
            *(
                call(
                    "issue_ticket",
                    customer_id=customer_id,
                    ticket_type="general",
                    visit_date=visit,
                    price_cents=4900,
                    idempotency_key=f"bench-ticket-{run}-{index}-{n}",
                )
                for n in range(tickets)
            )
        )
        return Customer(customer_id, [str(t["ticket_number"]) for t in issued])

    try:
        return list(await asyncio.gather(*(customer(i) for i in range(count))))
    finally:
        await data.close()


# --------------------------------------------------------------------------------------------
# The journey


@dataclass
class Results:
    journeys: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})


class DatePicker:
    """Dates for select_upgrade, round-robin over the calendar's days with seats to spare."""

    def __init__(self) -> None:
        self.turn = itertools.count()

    def pick(self, calendar: dict[str, Any]) -> str:
        days = [d for d in calendar["days"] if d["available"] and d["seats_left"] > 10]
        expect(bool(days), "no date in the calendar has seats to spare", calendar)
        return str(days[next(self.turn) % len(days)]["date"])


async def journey(
    mcp: Mcp,
    ticket_number: str,
    dates: DatePicker,
    results: Results | None,
    after_step: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """One upgrade of ``ticket_number`` to Standard, paid with pm_card_visa; its latencies are
    added to ``results`` (None during the warm-up); ``after_step`` runs after each step."""
    timings: dict[str, float] = {}
    began = time.perf_counter()

    async def step(tool: str, **arguments: Any) -> dict[str, Any]:
        start = time.perf_counter()
        answer = await mcp.call(tool, **arguments)
        timings[tool] = time.perf_counter() - start
        if after_step is not None:
            await after_step(tool)
        return answer

    mine = await step("list_my_tickets")
    listed = {t["ticket_number"]: t for t in mine["tickets"]}
    expect(ticket_number in listed, f"{ticket_number} not listed", mine)
    expect(listed[ticket_number]["upgrade_tier"] is None, "ticket already upgraded", mine)
    options = await step("get_upgrade_options", ticket_number=ticket_number)
    standard = next((o for o in options["tiers"] if o["tier"] == TIER), None)
    expect(standard is not None and standard["available"], "standard not available", options)
    calendar = await step("get_availability_calendar", ticket_number=ticket_number, tier=TIER)
    day = dates.pick(calendar)
    order = await step(
        "select_upgrade",
        ticket_number=ticket_number,
        tier=TIER,
        date=day,
        idempotency_key=f"bench-select-{uuid.uuid4().hex}",
    )
    expect(order["status"] == "awaiting_payment", "select_upgrade did not hold a seat", order)
    paid = await step(
        "pay_upgrade",
        order_id=order["order_id"],
        payment_method="pm_card_visa",
        idempotency_key=f"bench-pay-{uuid.uuid4().hex}",
    )
    expect(paid["payment_status"] == "succeeded", "payment did not succeed", paid)
    expect(paid["order"]["status"] == "confirmed", "order not confirmed", paid)
    expect(bool(paid["order"].get("confirmation_code")), "no confirmation code", paid)
    if results is not None:
        results.journeys.append(time.perf_counter() - began)
        for tool, seconds in timings.items():
            results.steps[tool].append(seconds)


# A server the ticket server calls and one of its tools.
Hop = tuple[str, str]


class HopProxy:
    """The control port of :mod:`bench.hop_proxy`: its counts and its delay."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = aiohttp.ClientSession(trust_env=False)

    async def close(self) -> None:
        await self.http.close()

    async def counts(self) -> Counter[Hop]:
        async with self.http.get(f"{self.url}/hops") as response:
            response.raise_for_status()
            found: dict[str, dict[str, int]] = await response.json()
        return Counter({(s, tool): n for s, tools in found.items() for tool, n in tools.items()})

    async def quiet_counts(self, quiet: float = 0.2) -> Counter[Hop]:
        """The counts once no call has arrived for ``quiet`` s: a step's calls include those
        its server makes after answering (the confirmation e-mail is queued after the payer
        is answered). A bench's wait, never a test's."""
        counts = await self.counts()
        while True:
            await asyncio.sleep(quiet)
            again = await self.counts()
            if again == counts:
                return counts
            counts = again

    async def set_delay(self, ms: float) -> None:
        async with self.http.put(f"{self.url}/delay", json={"ms": ms}) as response:
            response.raise_for_status()


@dataclass
class Measured:
    delay_ms: float
    results: Results
    wall: float
    cpu: dict[str, float]
    client_cpu: float
    machine_cpu: float
    hops: int
    """Internal calls the ticket server made in the window (webhooks and hold sweeps too)."""
    memory: list[MemorySample] = field(default_factory=list)
    """Every ``--memory-every`` s."""


@dataclass
class Run:
    step_hops: dict[str, Counter[Hop]]
    """The internal calls of each step of one journey run alone."""
    measured: list[Measured]


async def measure(stack: Stack, args: argparse.Namespace, customers: list[Customer]) -> Run:
    assert stack.proc is not None
    run_pid = stack.proc.pid
    clients = [Mcp(stack.url("TICKET_PORT"), "") for _ in range(args.customers)]
    proxy = HopProxy(stack.control_url)
    dates = DatePicker()
    waiting = list(reversed(customers))

    async def next_journey(
        mcp: Mcp,
        results: Results | None,
        after_step: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        if not waiting:
            raise JourneyFailed(
                "the customers made in setup ran out before the end: the journeys ran faster "
                f"than --max-rate {args.max_rate:g} a second; run again with a higher one"
            )
        customer = waiting.pop()
        mcp.token = customer.token
        await journey(mcp, customer.tickets[0], dates, results, after_step)

    async def window(delay_ms: float) -> Measured:
        await proxy.set_delay(delay_ms)
        say(
            f"==> Measuring: {args.customers} customers at a time for {args.seconds:g} s, "
            f"{delay_ms:g} ms added to every internal call"
        )
        results = Results()
        cpu_before = cpu_of_run(run_pid, stack.proxy)
        hops_before = (await proxy.counts()).total()
        client_before = time.process_time()
        machine_before = machine_busy_seconds()
        t0 = time.perf_counter()
        end = t0 + args.seconds

        memory: list[MemorySample] = []

        async def connection(mcp: Mcp) -> None:
            while time.perf_counter() < end:
                await next_journey(mcp, results)

        async def sample_memory() -> None:
            while (at := time.perf_counter() + args.memory_every) <= end:
                await asyncio.sleep(at - time.perf_counter())
                memory.append(memory_by_process(run_pid, at - t0))

        sampler = asyncio.create_task(sample_memory())
        try:
            await asyncio.gather(*(connection(m) for m in clients))
        finally:
            sampler.cancel()
        wall = time.perf_counter() - t0
        cpu_after = cpu_of_run(run_pid, stack.proxy)
        client_cpu = time.process_time() - client_before
        machine_cpu = machine_busy_seconds() - machine_before
        hops = (await proxy.counts()).total() - hops_before
        stack.check_alive()
        cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
        return Measured(delay_ms, results, wall, cpu, client_cpu, machine_cpu, hops, memory)

    try:
        say(f"==> Warm-up: {args.warmup} journeys per connection")
        started = time.perf_counter()

        async def warm(mcp: Mcp) -> None:
            for _ in range(args.warmup):
                await next_journey(mcp, None)

        await asyncio.gather(*(warm(m) for m in clients))
        say(f"    {time.perf_counter() - started:.1f} s")
        stack.check_alive()

        say("==> One journey alone, counting the internal calls of each step")
        step_hops: dict[str, Counter[Hop]] = {}
        last = await proxy.quiet_counts()

        async def count(tool: str) -> None:
            nonlocal last
            now = await proxy.quiet_counts()
            step_hops[tool] = now - last
            last = now

        await next_journey(clients[0], None, count)

        delays = [0.0] + ([args.hop_delay_ms] if args.hop_delay_ms > 0 else [])
        return Run(step_hops, [await window(delay) for delay in delays])
    finally:
        await asyncio.gather(*(c.close() for c in clients))
        await proxy.close()


def cpu_of_run(run_pid: int, proxy: subprocess.Popen[bytes] | None) -> dict[str, float]:
    """:func:`cpu_by_process`, and the hop proxy's (which is the bench's, not the stack's)."""
    cpu = cpu_by_process(run_pid)
    stat = None if proxy is None else _stat(proxy.pid)
    if stat is not None:
        cpu["hop proxy (bench)"] = (int(stat[1][11]) + int(stat[1][12])) / _TICK
    return cpu


def customer_token(stack: Stack, key: SigningKey, customer: Customer) -> str:
    """What the web app's login gives a customer."""
    return mint_access_token(
        key=key,
        issuer=stack.issuer,
        sub=customer.customer_id,
        client_id="web",
        scopes=CUSTOMER_SCOPES,
        ttl=6 * 3600,
    )


# --------------------------------------------------------------------------------------------
# Report


def percentile_ms(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def report(measured: Measured, args: argparse.Namespace) -> None:
    results = measured.results
    count = len(results.journeys)
    rate = count / measured.wall
    p50, p99 = percentile_ms(results.journeys, 50), percentile_ms(results.journeys, 99)
    say()
    say(
        f"    journeys/s {rate:7.1f}    p50 {p50:7.1f} ms    p99 {p99:7.1f} ms"
        f"    ({count} journeys in {measured.wall:.1f} s, {args.customers} customers)"
    )
    say()
    say(f"    {'step':<28}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'share':>8}")
    total_mean = statistics.fmean(results.journeys)
    for step in STEPS:
        values = results.steps[step]
        mean = statistics.fmean(values)
        say(
            f"    {step:<28}{percentile_ms(values, 50):9.1f}{percentile_ms(values, 99):9.1f}"
            f"{1000 * mean:9.1f}{mean / total_mean:8.0%}"
        )
    say(f"    (every journey a new customer holding {args.tickets} tickets)")
    say()
    say(
        f"    vs the prototype (~{PROTOTYPE_SECONDS:.0f} s per journey with its LLM): "
        f"p50 is {PROTOTYPE_SECONDS * 1000 / p50:,.0f}x shorter"
    )
    verdict = "met" if p50 < AIM_P50_MS else "NOT met"
    say(
        f"    vs the aim (p50 < {AIM_P50_MS:.0f} ms on this {os.cpu_count()}-core machine): "
        f"{verdict} (p50 {p50:.1f} ms, {p50 / AIM_P50_MS:.2f}x the aim)"
    )
    say()
    say("    CPU per journey, by process (utime+stime over the measured window):")
    cores = os.cpu_count() or 1
    rows = sorted(measured.cpu.items(), key=lambda item: -item[1])
    rows.append(("load generator (this)", measured.client_cpu))
    total = sum(seconds for _, seconds in rows)
    for name, seconds in rows:
        say(
            f"    {name:<28}{1000 * seconds / count:8.1f} ms/journey"
            f"{seconds / measured.wall:8.2f} cores{seconds / total:8.0%}"
        )
    say(
        f"    {'total':<28}{1000 * total / count:8.1f} ms/journey"
        f"{total / measured.wall:8.2f} cores of {cores}"
    )
    other = max(0.0, measured.machine_cpu - total)
    say(
        f"    {'other processes (machine)':<28}{'':>19}{other / measured.wall:8.2f} cores"
        "    (anything else running skews these figures)"
    )
    report_memory(measured)


SOAK_GROWTH = 0.10
"""Issue #16's soak: each process's resident memory at the end within 10 % of minute 1's."""


def report_memory(measured: Measured) -> None:
    """Memory by process from the first sample to the last, and over the second half of the
    run: bounded caches filling make the first figure grow and then level off, a leak keeps
    the second growing too."""
    samples = measured.memory
    if len(samples) < 2:
        return
    first, mid, last = samples[0], samples[len(samples) // 2], samples[-1]
    say()
    say(
        f"    Memory by process (PSS), {first.at:.0f} s into the run against {last.at:.0f} s "
        f"(aim: within {SOAK_GROWTH:.0%}), and {mid.at:.0f} s against {last.at:.0f} s:"
    )
    for name in sorted(first.by_part, key=lambda n: -first.by_part[n]):
        if name not in last.by_part or name not in mid.by_part:
            continue
        growth = last.by_part[name] / first.by_part[name] - 1
        late = last.by_part[name] / mid.by_part[name] - 1
        trend = " ".join(f"{sample.by_part.get(name, 0) / 2**20:.0f}" for sample in samples)
        say(f"    {name:<28}{growth:+8.1%} {_verdict(growth):<8}{late:+8.1%}   MiB: {trend}")
    report_postgres_processes(first, last)


def _verdict(growth: float) -> str:
    return "flat" if abs(growth) <= SOAK_GROWTH else "GROWING" if growth > 0 else "shrank"


def report_postgres_processes(first: MemorySample, last: MemorySample) -> None:
    """PostgreSQL process by process: its sum above also moves with how many processes there
    are, so the processes alive at both samples are compared on their own, and the ones that
    started or ended in between are named."""
    both = first.postgres.keys() & last.postgres.keys()
    if not both:
        return
    before = sum(first.postgres[pid][1] for pid in both)
    after = sum(last.postgres[pid][1] for pid in both)
    growth = after / before - 1
    biggest = max(both, key=lambda pid: last.postgres[pid][1] - first.postgres[pid][1])
    kind, grown = last.postgres[biggest][0], last.postgres[biggest][1] - first.postgres[biggest][1]
    say(
        f"    postgres, the {len(both)} processes alive at both: their own memory (Pss_Anon) "
        f"{before / 2**20:.1f} -> {after / 2**20:.1f} MiB, {growth:+.1%} {_verdict(growth)}; "
        f"the most one grew: {grown / 2**20:+.1f} MiB ({kind})"
    )
    say(
        f"    postgres, started since {first.at:.0f} s: {_processes(last, both)}; "
        f"ended: {_processes(first, both)}"
    )


def _processes(sample: MemorySample, but: set[int]) -> str:
    """The PostgreSQL processes of ``sample`` not in ``but``, counted by kind with their
    memory: "2 connection (5.0 MiB), 1 autovacuum worker (20.1 MiB)"."""
    kinds: dict[str, list[int]] = {}
    for pid, (kind, own) in sample.postgres.items():
        if pid not in but:
            kinds.setdefault(kind, []).append(own)
    if not kinds:
        return "none"
    return ", ".join(
        f"{len(owns)} {kind} ({sum(owns) / 2**20:.1f} MiB)" for kind, owns in sorted(kinds.items())
    )


def report_hops(run: Run, args: argparse.Namespace) -> None:
    say()
    say("    Internal calls (ticket server -> data, payment, notify), one journey alone:")
    servers = [name for name, _ in HOP_ROUTES]
    say(f"    {'step':<28}{'calls':>6}" + "".join(f"{s:>9}" for s in servers) + "   tools")
    for step in STEPS:
        hops = run.step_hops.get(step, Counter())
        tools = ", ".join(
            f"{server} {tool}" + (f" x{n}" if n > 1 else "") for (server, tool), n in hops.items()
        )
        say(
            f"    {step:<28}{hops.total():>6}"
            + "".join(f"{sum(n for (s, _), n in hops.items() if s == srv):>9}" for srv in servers)
            + f"   {tools}"
        )
    total = sum(run.step_hops.values(), Counter())
    say(
        f"    {'journey':<28}{total.total():>6}"
        + "".join(f"{sum(n for (s, _), n in total.items() if s == srv):>9}" for srv in servers)
        + f"   (for {len(STEPS)} customer calls)"
    )
    for measured in run.measured:
        count = len(measured.results.journeys)
        say(
            f"    measured at {measured.delay_ms:g} ms per call: {measured.hops / count:.2f} calls "
            "per journey (payment webhooks and hold sweeps included)"
        )
    if len(run.measured) < 2:
        return
    base, slow = run.measured
    delay = slow.delay_ms
    say()
    say(f"    The journey with {delay:g} ms added to every internal call, beside the baseline:")
    say(
        f"    {'':<28}{'journeys/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'p50 x':>7}"
    )
    say(f"    {'':<28}{'':>11}{'(0 ms)':>18}{f'({delay:g} ms)':>18}")
    rows: list[tuple[str, list[float], list[float]]] = [
        ("journey", base.results.journeys, slow.results.journeys)
    ]
    rows += [(step, base.results.steps[step], slow.results.steps[step]) for step in STEPS]
    for name, before, after in rows:
        rate = (
            f"{len(before) / base.wall:5.1f}/{len(after) / slow.wall:<5.1f}"
            if name == "journey"
            else ""
        )
        p50_before, p50_after = percentile_ms(before, 50), percentile_ms(after, 50)
        say(
            f"    {name:<28}{rate:>11}{p50_before:9.1f}{percentile_ms(before, 99):9.1f}"
            f"{p50_after:9.1f}{percentile_ms(after, 99):9.1f}{p50_after / p50_before:7.2f}"
        )
    p50_before = percentile_ms(base.results.journeys, 50)
    p50_after = percentile_ms(slow.results.journeys, 50)
    say(
        f"    p50 {p50_after:.1f} ms with the delay against {p50_before:.1f} ms without: "
        f"{p50_after / p50_before:.2f}x, +{p50_after - p50_before:.0f} ms "
        f"({total.total()} calls x {delay:g} ms = {total.total() * delay:.0f} ms if none "
        "overlapped)"
    )
    spent = sum(slow.cpu.values()) + slow.client_cpu
    other = max(0.0, slow.machine_cpu - spent) / slow.wall
    say(
        f"    CPU per journey with the delay: {1000 * spent / len(slow.results.journeys):.1f} ms"
        f"; other processes on the machine meanwhile: {other:.2f} cores"
    )


# --------------------------------------------------------------------------------------------


def new_stack(prefix: str, *, hop_proxy: bool) -> Stack:
    """A stack to start in a new working directory, a free port for every service (and for
    the hop proxy's, with ``hop_proxy``)."""
    # Reachable by the unprivileged user PostgreSQL runs as when this runs as root.
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    workdir.chmod(0o755)
    names = (
        "IDP_PORT",
        "DATA_PORT",
        "TICKET_PORT",
        "PAYMENT_PORT",
        "NOTIFY_PORT",
        "MAIL_SINK_PORT",
        "MAIL_SINK_HTTP_PORT",
    )
    proxied = ("control", *(name for name, _ in HOP_ROUTES)) if hop_proxy else ()
    ports = free_ports(len(names) + len(proxied))
    return Stack(
        workdir,
        dict(zip(names, ports[: len(names)], strict=True)),
        dict(zip(proxied, ports[len(names) :], strict=True)),
    )


def start_and_sign_in(stack: Stack) -> tuple[SigningKey, str]:
    """Start the stack and wait for "Ready.": the identity provider's key, and an ``ops``
    token for the setup."""
    say(f"==> Starting `ticketing run` in {stack.workdir}")
    started = time.perf_counter()
    stack.start()
    stack.wait_ready()
    say(f"    ready in {time.perf_counter() - started:.1f} s")
    key = load_or_create_signing_key(stack.workdir / ".dev" / "idp")
    ops = mint_access_token(
        key=key, issuer=stack.issuer, sub="ops", client_id="ops", scopes=OPS_SCOPES, ttl=6 * 3600
    )
    return key, ops


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_on_term)
    stack = new_stack("bench-journey-", hop_proxy=True)
    workdir = stack.workdir
    code = 1
    try:
        code = _run(args, stack)
    except KeyboardInterrupt:
        say("\nInterrupted; stopping the stack.")
        code = 130
    except JourneyFailed as exc:
        say()
        say("!" * 78)
        say(f"FAILED: {exc}")
        say("!" * 78)
        code = 1
    finally:
        say("==> Stopping the stack (SIGTERM)")
        stack.stop()
    if code == 0 and not args.keep_logs:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        say(f"The stack's output and logs are in {workdir} (run.out, .dev/logs/)")
    return code


def _run(args: argparse.Namespace, stack: Stack) -> int:
    say(
        f"Upgrade journey benchmark: {args.customers} customers, {args.seconds:g} s measured, "
        f"raw JSON-RPC at {LATEST_MODERN_VERSION}, no LLM"
    )
    key, ops = start_and_sign_in(stack)
    say(
        f"==> Setup: {args.journeys} customers, {args.tickets} general tickets each "
        f"({SETUP_CONCURRENCY} calls at a time)"
    )
    started = time.perf_counter()
    customers = asyncio.run(create_customers(stack, ops, args.journeys, args.tickets))
    for customer in customers:
        customer.token = customer_token(stack, key, customer)
    asyncio.run(make_room(stack, ops, customers[0], args.journeys))
    say(f"    {time.perf_counter() - started:.1f} s")
    run = asyncio.run(measure(stack, args, customers))
    report(run.measured[0], args)
    report_hops(run, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
