"""What does the concierge host add to a turn, model time aside?

``python -m bench.bench_host [--conversations 20] [--warmup 2]``

Starts the servers as ``ticketing run`` does (bench_journey's ``Stack``, over a throwaway
migrated and seeded PostgreSQL of :mod:`bench.lib`), and the host in this process as
``python -m host`` assembles it (host/assemble.py) on a free port, with a scripted model that
answers at once: what is measured is everything but model time. Each conversation is a new
customer's five-turn upgrade over ``POST /api/chat`` (SSE read to the end):

1. "What tickets do I have?"                  list_my_tickets
2. "What can I upgrade to?"                   get_upgrade_options
3. "Dates for Standard?"                      get_availability_calendar
4. "Standard on <day>" (the host asks yes/no) quote_upgrade, by the host's confirmation step
5. the customer's yes                         select_upgrade, pay_upgrade (pm_card_visa)

Beside it, in the same run and interleaved conversation by conversation, the same tool calls of
each turn made directly by a plain fastmcp ``Client`` (one per turn, as the host opens its own
sessions per turn) with the same customer's token on another of their tickets. Printed: p50/p99
per turn of both, by turn and overall, and the ratio host/direct. The host's extra per turn is
its own work: verifying the token, discovering the tools, resources and prompts of both servers
with the customer's token, reading and writing the session in PostgreSQL, the confirmation step
and the SSE stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from bench.bench_journey import (
    DROPPED_PREFIXES,
    REPO,
    Customer,
    JourneyFailed,
    Stack,
    create_customers,
    customer_token,
    percentile_ms,
    start_and_sign_in,
)
from bench.lib import raise_on_term, say, spawn_own_session, throwaway_postgres
from host.assemble import assembled
from host.memory.postgres import PostgresMemory
from host.providers.base import ModelEvent, ModelRequest, ToolResultBlock
from host.providers.scripted import Call, Say, ScriptedModel
from host.settings import HostSettings
from servers.core.db.connect import ping
from servers.core.db.postgres import PostgresDatabase
from ticketing.procs import free_ports

TIER = "standard"
TURNS = ("tickets", "options", "calendar", "ask to confirm", "hold and pay")
HOST = "127.0.0.1"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_host",
        description="Per-turn overhead of the concierge host (scripted model) vs direct calls.",
    )
    parser.add_argument("--conversations", type=int, default=20, help="measured conversations")
    parser.add_argument("--warmup", type=int, default=2, help="conversations not measured")
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the working directory and its logs"
    )
    args = parser.parse_args(argv)
    if args.conversations < 1 or args.warmup < 0:
        parser.error("--conversations must be >= 1, --warmup >= 0")
    return args


@dataclass
class ExternalDbStack(Stack):
    """``ticketing run`` on a database of ours (the host in this process shares it)."""

    database_url: str = ""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_PREFIXES)}
        env.update({name: str(port) for name, port in self.ports.items()})
        env.update(
            {"PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "DATABASE_URL": self.database_url}
        )
        self.proc = spawn_own_session(
            ["-m", "ticketing.cli", "run"], cwd=self.workdir, env=env, output=self.output
        )


@dataclass
class Timings:
    host: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TURNS})
    direct: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TURNS})


def last_order_id(request: ModelRequest) -> str:
    for message in reversed(request.messages):
        for block in message.blocks:
            if isinstance(block, ToolResultBlock) and "ord_" in block.content:
                start = block.content.index("ord_")
                return block.content[start : start + 30]
    raise JourneyFailed("no order id in any tool result the model was given")


def pay(request: ModelRequest) -> list[Call | Say]:
    return [
        Call("pay_upgrade", {"order_id": last_order_id(request), "payment_method": "pm_card_visa"})
    ]


class Plan:
    """The host's model: each conversation scripts its own plan."""

    def __init__(self) -> None:
        self.model = ScriptedModel([])

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        return self.model.stream(request)


def script(ticket: str, day: str) -> ScriptedModel:
    choice = {"ticket_number": ticket, "tier": TIER, "date": day}
    return ScriptedModel(
        [
            [Say("Let me look."), Call("list_my_tickets")],
            [Say("You have a ticket.")],
            [Call("get_upgrade_options", {"ticket_number": ticket})],
            [Say("Three tiers.")],
            [Call("get_availability_calendar", {"ticket_number": ticket, "tier": TIER})],
            [Say("Here are the dates.")],
            [Call("select_upgrade", choice)],
            [Say("Please confirm.")],
            [Call("select_upgrade", choice)],
            pay,
            [Say("All done.")],
        ]
    )


def events_of(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]


async def host_conversation(
    http: httpx.AsyncClient, plan: Plan, customer: Customer, day: str, timings: Timings | None
) -> None:
    plan.model = script(customer.tickets[0], day)
    headers = {"authorization": f"Bearer {customer.token}"}
    session_id = None
    context: dict[str, Any] | None = None
    for turn, message in zip(
        TURNS,
        (
            "What tickets do I have?",
            "What can I upgrade to?",
            "Dates for Standard?",
            f"Standard on {day}",
            "yes",
        ),
        strict=True,
    ):
        started = time.perf_counter()
        answer = await http.post(
            "/api/chat",
            json={"message": message, "session_id": session_id, "context": context},
            headers=headers,
        )
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            raise JourneyFailed(f"{turn}: HTTP {answer.status_code}: {answer.text[:300]}")
        events = events_of(answer.text)
        # The host's confirmation step; a turn may also offer choices (its tickets, say).
        asked = [e for e in events if e["type"] == "options" and e["kind"] == "confirm"]
        failed = [e for e in events if e["type"] == "error"]
        if not asked:  # the host's question is the one tool result that is not ok
            failed += [e for e in events if e["type"] == "tool_result" and not e["ok"]]
        if failed or events[-1]["type"] != "done" or bool(asked) != (turn == TURNS[3]):
            raise JourneyFailed(f"{turn}: {failed or events}")
        session_id = events[0]["session_id"]
        context = (
            {"confirmation": {"id": asked[0]["confirmation"]["id"], "answer": "yes"}}
            if asked
            else None
        )
        if timings is not None:
            timings.host[turn].append(elapsed)
    done = [e["name"] for e in events if e["type"] == "tool_result"]
    if done != ["select_upgrade", "pay_upgrade"]:
        raise JourneyFailed(f"the upgrade was not held and paid: {done}")


async def direct_conversation(
    ticket_url: str, customer: Customer, day: str, timings: Timings | None
) -> None:
    ticket = customer.tickets[1]
    choice = {"ticket_number": ticket, "tier": TIER, "date": day}
    order: dict[str, Any] = {}

    async def turn(name: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
        started = time.perf_counter()
        async with Client(StreamableHttpTransport(ticket_url, auth=customer.token)) as client:
            for tool, arguments in calls:
                if tool == "pay_upgrade":
                    arguments = {**arguments, "order_id": order["order_id"]}
                result = await client.call_tool(tool, arguments, raise_on_error=False)
                if result.is_error:
                    raise JourneyFailed(f"{tool}: {result.content}")
                if tool == "select_upgrade":
                    order.update(result.structured_content or {})
        if timings is not None:
            timings.direct[name].append(time.perf_counter() - started)

    await turn("tickets", [("list_my_tickets", {})])
    await turn("options", [("get_upgrade_options", {"ticket_number": ticket})])
    await turn("calendar", [("get_availability_calendar", {"ticket_number": ticket, "tier": TIER})])
    await turn("ask to confirm", [("quote_upgrade", choice)])
    key = uuid.uuid4().hex
    await turn(
        "hold and pay",
        [
            ("select_upgrade", {**choice, "idempotency_key": f"bench-select-{key}"}),
            (
                "pay_upgrade",
                {"payment_method": "pm_card_visa", "idempotency_key": f"bench-pay-{key}"},
            ),
        ],
    )


async def measure(
    stack: ExternalDbStack, args: argparse.Namespace, customers: list[Customer]
) -> Timings:
    (port,) = free_ports(1)
    settings = HostSettings(
        auth_issuer=stack.issuer,
        auth_jwks_url=f"{stack.issuer.rstrip('/')}/.well-known/jwks.json",
        database_url=stack.database_url,
        ticket_url=stack.url("TICKET_PORT"),
        payment_url=stack.url("PAYMENT_PORT"),
        host=HOST,
        port=port,
    )
    plan = Plan()
    db = await PostgresDatabase(stack.database_url, min_size=1, max_size=4).open()
    timings = Timings()
    try:
        async with assembled(settings, plan, PostgresMemory(db), lambda: ping(db)) as app:
            server = uvicorn.Server(
                uvicorn.Config(app, host=HOST, port=port, log_config=None, access_log=False)
            )
            serving = asyncio.create_task(server.serve())
            while not server.started:
                if serving.done():
                    raise SystemExit("the host did not start")
                await asyncio.sleep(0.02)
            try:
                async with httpx.AsyncClient(
                    base_url=f"http://{HOST}:{port}", timeout=60, trust_env=False
                ) as http:
                    for index, customer in enumerate(customers):
                        measured = None if index < args.warmup else timings
                        day = (date.today() + timedelta(days=3 + index % 60)).isoformat()
                        await host_conversation(http, plan, customer, day, measured)
                        await direct_conversation(stack.url("TICKET_PORT"), customer, day, measured)
            finally:
                server.should_exit = True
                await serving
    finally:
        await db.close()
    return timings


def report(timings: Timings) -> None:
    say()
    say(f"    {'turn':<18}{'host p50':>10}{'p99':>9}{'direct p50':>12}{'p99':>9}{'ratio p50':>11}")
    for turn in TURNS:
        host, direct = timings.host[turn], timings.direct[turn]
        say(
            f"    {turn:<18}{percentile_ms(host, 50):10.1f}{percentile_ms(host, 99):9.1f}"
            f"{percentile_ms(direct, 50):12.1f}{percentile_ms(direct, 99):9.1f}"
            f"{percentile_ms(host, 50) / percentile_ms(direct, 50):10.1f}x"
        )
    host = [v for values in timings.host.values() for v in values]
    direct = [v for values in timings.direct.values() for v in values]
    overhead = [
        h - d
        for turn in TURNS
        for h, d in zip(timings.host[turn], timings.direct[turn], strict=True)
    ]
    say(
        f"    {'every turn':<18}{percentile_ms(host, 50):10.1f}{percentile_ms(host, 99):9.1f}"
        f"{percentile_ms(direct, 50):12.1f}{percentile_ms(direct, 99):9.1f}"
        f"{percentile_ms(host, 50) / percentile_ms(direct, 50):10.1f}x"
    )
    say(
        f"    host overhead per turn (host - direct, model time 0): "
        f"p50 {percentile_ms(overhead, 50):.1f} ms, p99 {percentile_ms(overhead, 99):.1f} ms"
    )
    say(f"    ({len(host)} turns each way, ms; on this {os.cpu_count()}-core machine)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_on_term)
    workdir = Path(tempfile.mkdtemp(prefix="bench-host-"))
    workdir.chmod(0o755)  # reachable by the unprivileged user PostgreSQL runs as
    names = (
        "IDP_PORT",
        "DATA_PORT",
        "TICKET_PORT",
        "PAYMENT_PORT",
        "NOTIFY_PORT",
        "MAIL_SINK_PORT",
        "MAIL_SINK_HTTP_PORT",
        "HOST_PORT",
    )
    code = 1
    say(
        f"Concierge host benchmark: {args.conversations} five-turn upgrade conversations, "
        "scripted model, beside the same tool calls made directly"
    )
    with throwaway_postgres(workdir) as (_pg, database_url):
        stack = ExternalDbStack(
            workdir,
            dict(zip(names, free_ports(len(names)), strict=True)),
            database_url=database_url,
        )
        try:
            code = _run(args, stack)
        except KeyboardInterrupt:
            say("\nInterrupted; stopping the stack.")
            code = 130
        except JourneyFailed as exc:
            say(f"FAILED: {exc}")
            code = 1
        finally:
            say("==> Stopping the stack (SIGTERM)")
            stack.stop()
    if code == 0 and not args.keep_logs:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        say(f"The stack's output and logs are in {workdir} (run.out, .dev/logs/)")
    return code


def _run(args: argparse.Namespace, stack: ExternalDbStack) -> int:
    key, ops = start_and_sign_in(stack)
    count = args.warmup + args.conversations
    say(f"==> Setup: {count} customers with two general tickets each")
    customers = asyncio.run(create_customers(stack, ops, count, 2))
    for customer in customers:
        customer.token = customer_token(stack, key, customer)
    say(f"==> Measuring ({args.warmup} conversations of warm-up first)")
    report(asyncio.run(measure(stack, args, customers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
