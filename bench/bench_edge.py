"""The edge under abuse: a huge webhook body, a /health flood, slow and dropped connections and a
burst from one customer, against ``ticketing run`` (issue 10, items 1, 2 and 11).

``python -m bench.bench_edge [--body-mb 400] [--health 500] [--slow 200] [--burst 400]``

Starts the whole stack as ``bench.bench_journey`` does (a throwaway directory, free ports), then,
one after another, against the ticket server:

1. ``POST /webhooks/payment`` with a ``--body-mb`` body of zeros, sent by ``curl`` as in the
   issue; the ticket server's resident and peak memory before and after.
2. ``seq HEALTH | xargs -P8 -I{} curl .../health``, as in the issue: the ticket server's CPU per
   request, and a customer's ``get_ticket`` latency alone and during such a flood (the ratio is
   what the flood costs customers).
3. ``--slow`` connections that send half their headers, or headers and a tenth of their body,
   and then nothing: how long until the server closes them (capped at 35 s).
4. ``--slow`` webhook posts whose client drops the connection halfway through the body: ERROR
   lines and tracebacks the ticket server logged for them (and for those of 3.).
5. ``--burst`` ``get_ticket`` calls by one customer, 16 at a time: answers by status, and the
   ``Retry-After`` of the first ``429``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.bench_journey import (
    Mcp,
    Stack,
    cpu_by_process,
    create_customers,
    customer_token,
    process_name,
)
from bench.lib import raise_on_term, say
from servers.core.client import tool_call_body, tool_call_headers
from servers.core.scopes import OPS_SCOPES
from servers.devidp.keys import load_or_create_signing_key
from servers.devidp.tokens import mint_access_token
from ticketing.procs import descendants, free_ports

HOST = "127.0.0.1"
SLOW_CAP_SECONDS = 35.0
PORTS = (
    "IDP_PORT",
    "DATA_PORT",
    "TICKET_PORT",
    "PAYMENT_PORT",
    "NOTIFY_PORT",
    "MAIL_SINK_PORT",
    "MAIL_SINK_HTTP_PORT",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--body-mb", type=int, default=400, help="webhook body size, MB")
    parser.add_argument("--health", type=int, default=500, help="/health requests")
    parser.add_argument("--slow", type=int, default=200, help="slow (and dropped) connections")
    parser.add_argument("--burst", type=int, default=400, help="calls in the customer's burst")
    return parser.parse_args(argv)


def ticket_pid(stack: Stack) -> int:
    assert stack.proc is not None
    for pid in descendants(stack.proc.pid):
        if process_name(pid, stack.proc.pid) == "servers.ticket":
            return pid
    raise SystemExit("no ticket server process found")


def memory_mib(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory (VmRSS, VmHWM) of ``pid``, MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def huge_body(stack: Stack, megabytes: int) -> None:
    pid = ticket_pid(stack)
    rss, peak = memory_mib(pid)
    port = stack.ports["TICKET_PORT"]
    command = (
        f"head -c {megabytes * 1_000_000} /dev/zero | curl -s -o /dev/null -w '%{{http_code}}' "
        f"-X POST http://{HOST}:{port}/webhooks/payment -H 'Content-Type: application/json' "
        "-H 'Webhook-Signature: t=1,v1=00' --data-binary @-"
    )
    say(f"==> 1. {megabytes} MB webhook body: {command}")
    # The issue's own command line, pipe included; every part of it is a number or a constant.
    status = subprocess.run(command, shell=True, capture_output=True, text=True).stdout  # noqa: S602
    rss_after, peak_after = memory_mib(pid)
    say(f"    HTTP {status or '(no answer)'}")
    say(
        f"    ticket server RSS {rss:.0f} -> {rss_after:.0f} MiB, "
        f"peak {peak:.0f} -> {peak_after:.0f} MiB"
    )


async def flood_health(url: str, count: int) -> dict[str, int]:
    """The issue's ``seq COUNT | xargs -P8 curl URL``, in processes of its own (a flood from
    this process would slow its own latency probe); the answers by status."""
    process = await asyncio.create_subprocess_shell(
        f"seq {count} | xargs -P8 -I{{}} curl -s -o /dev/null -w '%{{http_code}}\\n' {url}",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    statuses: dict[str, int] = {}
    for status in out.decode().split():
        statuses[status] = statuses.get(status, 0) + 1
    return statuses


async def latencies_ms(
    mcp: Mcp, ticket: str, stop: asyncio.Event | None, count: int
) -> list[float]:
    """``get_ticket`` one after another: ``count`` of them, or until ``stop`` is set."""
    times: list[float] = []
    while (stop is None and len(times) < count) or (stop is not None and not stop.is_set()):
        started = time.perf_counter()
        await mcp.call("get_ticket", ticket_number=ticket)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def health(stack: Stack, mcp: Mcp, ticket: str, count: int) -> None:
    assert stack.proc is not None
    url = f"http://{HOST}:{stack.ports['TICKET_PORT']}/health"
    say(f"==> 2. seq {count} | xargs -P8 -I{{}} curl -s -o /dev/null {url}")
    before = cpu_by_process(stack.proc.pid)["servers.ticket"]
    statuses = await flood_health(url, count)
    used = cpu_by_process(stack.proc.pid)["servers.ticket"] - before
    shown = ", ".join(f"{n} x {s}" for s, n in sorted(statuses.items()))
    say(f"    ticket server CPU per /health: {used / count * 1000:.2f} ms ({shown})")
    alone = await latencies_ms(mcp, ticket, None, 100)
    stop = asyncio.Event()
    during_task = asyncio.create_task(latencies_ms(mcp, ticket, stop, 0))
    await flood_health(url, count)
    stop.set()
    during = await during_task
    quiet, busy = statistics.median(alone), statistics.median(during)
    say(
        f"    get_ticket p50 alone {quiet:.1f} ms, during the flood {busy:.1f} ms "
        f"({len(during)} calls): ratio {busy / quiet:.1f}"
    )


async def slow_connection(port: int, request: bytes) -> float:
    """Seconds until the server closes a connection that sent ``request`` and stopped."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(SLOW_CAP_SECONDS):
            while await reader.read(65536):
                pass
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
    return time.perf_counter() - started


async def slow(stack: Stack, count: int) -> None:
    port = stack.ports["TICKET_PORT"]
    half_headers = b"POST /webhooks/payment HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    tenth_body = (
        b"POST /webhooks/payment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n" + b" " * 100
    )
    for what, request in (("half their headers", half_headers), ("a tenth of a body", tenth_body)):
        say(f"==> 3. {count} connections that send {what}, then nothing")
        before = errors_logged(stack)
        open_for = await asyncio.gather(*(slow_connection(port, request) for _ in range(count)))
        capped = sum(1 for t in open_for if t >= SLOW_CAP_SECONDS)
        say(
            f"    closed by the server after {statistics.median(open_for):.1f} s (median), "
            f"{max(open_for):.1f} s (max); {capped} still open at {SLOW_CAP_SECONDS:.0f} s"
        )
        await report_errors(stack, before, "for them (closed at the cap, if not before)")


async def report_errors(stack: Stack, before: tuple[int, int], what: str) -> None:
    await asyncio.sleep(2)  # let the server finish (and log) what it was doing
    after = errors_logged(stack)
    say(
        f"    the ticket server logged {after[0] - before[0]} ERROR lines and "
        f"{after[1] - before[1]} tracebacks {what}"
    )


def ticket_log(stack: Stack) -> Path:
    return stack.workdir / ".dev" / "logs" / "ticket.log"


def errors_logged(stack: Stack) -> tuple[int, int]:
    text = ticket_log(stack).read_text(errors="replace")
    errors = sum(1 for line in text.splitlines() if '"level": "ERROR"' in line or " ERROR " in line)
    return errors, text.count("Traceback")


async def dropped(stack: Stack, count: int) -> None:
    port = stack.ports["TICKET_PORT"]
    request = (
        b"POST /webhooks/payment HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + b" " * 500
    )
    say(f"==> 4. {count} webhook posts whose client goes away halfway through the body")
    before = errors_logged(stack)

    async def drop() -> None:
        _, writer = await asyncio.open_connection(HOST, port)
        writer.write(request)
        await writer.drain()
        writer.transport.abort()

    await asyncio.gather(*(drop() for _ in range(count)))
    await report_errors(stack, before, "for them")


async def burst(stack: Stack, token: str, ticket: str, count: int) -> None:
    url = stack.url("TICKET_PORT")
    say(f"==> 5. one customer: {count} get_ticket calls, 16 at a time")
    body = json.dumps(
        tool_call_body("get_ticket", {"ticket_number": ticket}, 1, client_name="bench_edge")
    ).encode()
    headers = {**tool_call_headers("get_ticket"), "Authorization": f"Bearer {token}"}
    statuses: dict[int, int] = {}
    retry_after: list[str] = []
    gate = asyncio.Semaphore(16)
    async with aiohttp.ClientSession(trust_env=False) as http:

        async def one() -> None:
            async with gate, http.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if response.status == 429:
                    retry_after.append(response.headers.get("Retry-After", "(none)"))

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        took = time.perf_counter() - started
    shown = ", ".join(f"{n} x {s}" for s, n in sorted(statuses.items()))
    say(
        f"    in {took:.1f} s: {shown}; first Retry-After: {retry_after[0] if retry_after else '-'}"
    )


async def scenario(stack: Stack, args: argparse.Namespace, ops: str, key: Any) -> None:
    customers = await create_customers(stack, ops, 1, 1)
    customer = customers[0]
    token = customer_token(stack, key, customer)
    ticket = customer.tickets[0]
    mcp = Mcp(stack.url("TICKET_PORT"), token)
    try:
        await health(stack, mcp, ticket, args.health)
    finally:
        await mcp.close()
    await slow(stack, args.slow)
    await dropped(stack, args.slow)
    await burst(stack, token, ticket, args.burst)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_on_term)
    workdir = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    workdir.chmod(0o755)  # reachable by the unprivileged user PostgreSQL runs as under root
    stack = Stack(workdir, dict(zip(PORTS, free_ports(len(PORTS)), strict=True)))
    try:
        say(f"==> Starting `ticketing run` in {workdir}")
        stack.start()
        stack.wait_ready()
        huge_body(stack, args.body_mb)
        key = load_or_create_signing_key(workdir / ".dev" / "idp")
        ops = mint_access_token(
            key=key, issuer=stack.issuer, sub="ops", client_id="ops", scopes=OPS_SCOPES, ttl=3600
        )
        asyncio.run(scenario(stack, args, ops, key))
    except KeyboardInterrupt:
        return 130
    finally:
        stack.stop()
    say(f"The stack's output and logs are in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
