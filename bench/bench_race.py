"""200 buyers race for 5 seats: how long until every one of them has an answer?

``python -m bench.bench_race [--buyers 200] [--seats 5]``

Starts the whole stack as ``bench_journey`` does (``ticketing run`` in a throwaway working
directory, a free port for every service). Setup, not timed: ``2 x --buyers`` customers with a
general ticket each (an ``ops`` token on the data server), Double Fun capacity set to
``--seats`` on one date (the race) and to every buyer's seat on the next (the baseline).

Each buyer is a customer of their own with their own keep-alive connection to the ticket
server, opened beforehand with a ``list_my_tickets``. Then all of them are released at once to
call ``select_upgrade`` (raw JSON-RPC ``tools/call``, as ``bench_journey``): first the baseline,
where every buyer gets a seat (what a burst of that many holds costs the stack without
contention), then the race. Printed for both: the time from the release to each answer
(p50, p99, the last one) and their ratio; the race's aim (issue #16) is every answer in under
2 s. The run fails (exit 1) unless the race sells exactly ``--seats`` holds and every other
buyer is told ``SOLD_OUT``, and the baseline sells one to every buyer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from bench.bench_journey import (
    Customer,
    JourneyFailed,
    Mcp,
    Stack,
    create_customers,
    customer_token,
    new_stack,
    percentile_ms,
    start_and_sign_in,
)
from bench.lib import raise_on_term, say

TIER = "double_fun"
AIM_SECONDS = 2.0
"""Issue #16: every buyer of the race answered within 2 s of the release."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_race", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--buyers", type=int, default=200, help="buyers released at once")
    parser.add_argument("--seats", type=int, default=5, help="seats on the race's date")
    parser.add_argument("--keep-logs", action="store_true", help="keep the stack's logs")
    args = parser.parse_args(argv)
    if args.buyers < 1 or not 0 <= args.seats < args.buyers:
        parser.error("--buyers must be >= 1 and --seats between 0 and --buyers - 1")
    return args


@dataclass
class Burst:
    """The answers to one release of every buyer."""

    name: str
    latencies: list[float] = field(default_factory=list)
    held: int = 0
    sold_out: int = 0
    other: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"p50 {percentile_ms(self.latencies, 50):7.0f} ms   "
            f"p99 {percentile_ms(self.latencies, 99):7.0f} ms   "
            f"last {1000 * max(self.latencies):7.0f} ms   "
            f"held {self.held}, sold out {self.sold_out}, other {len(self.other)}"
        )


async def burst(name: str, buyers: list[Mcp], tickets: list[str], day: str) -> Burst:
    """Release every buyer at once on ``day``; each answer's time is counted from the release."""
    result = Burst(name)
    go = asyncio.Event()

    async def buy(mcp: Mcp, ticket: str) -> None:
        await go.wait()
        try:
            answer = await mcp.answer(
                "select_upgrade",
                ticket_number=ticket,
                tier=TIER,
                date=day,
                idempotency_key=f"bench-race-{uuid.uuid4().hex}",
            )
        except JourneyFailed as exc:
            result.other.append(str(exc))
            return
        result.latencies.append(time.perf_counter() - released)
        text = json.dumps(answer.get("content"))
        if not answer.get("isError"):
            result.held += 1
        elif '"SOLD_OUT:' in text:
            result.sold_out += 1
        else:
            result.other.append(text[:300])

    tasks = [
        asyncio.create_task(buy(mcp, ticket)) for mcp, ticket in zip(buyers, tickets, strict=True)
    ]
    await asyncio.sleep(0)  # every buyer waiting on the event before it is set
    released = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    return result


async def race(stack: Stack, ops: str, customers: list[Customer], args: argparse.Namespace) -> int:
    race_day = date.today() + timedelta(days=40)
    base_day = race_day + timedelta(days=1)
    data = Mcp(stack.url("DATA_PORT"), ops)
    try:
        for day, seats in ((race_day, args.seats), (base_day, args.buyers)):
            await data.call("set_capacity", date=day.isoformat(), tier=TIER, capacity=seats)
    finally:
        await data.close()
    ticket_url = stack.url("TICKET_PORT")
    groups = (customers[: args.buyers], customers[args.buyers :])
    bursts = []
    for (name, day), group in zip(
        (("baseline", base_day), ("race", race_day)), groups, strict=True
    ):
        buyers = [Mcp(ticket_url, c.token) for c in group]
        try:
            # Each buyer's connection open and its token verified before the release.
            await asyncio.gather(*(mcp.call("list_my_tickets") for mcp in buyers))
            bursts.append(await burst(name, buyers, [c.tickets[0] for c in group], day.isoformat()))
        finally:
            await asyncio.gather(*(mcp.close() for mcp in buyers))
        stack.check_alive()
    baseline, raced = bursts
    say()
    say(f"{args.buyers} buyers released at once on select_upgrade ({TIER}), time to each answer:")
    say(f"  baseline, {args.buyers} seats   {baseline.line()}")
    say(f"  race, {args.seats} seats{'':<8}{raced.line()}")
    last = max(raced.latencies)
    p50s = percentile_ms(raced.latencies, 50), percentile_ms(baseline.latencies, 50)
    say(
        f"  race / baseline: p50 x{p50s[0] / p50s[1]:.2f}, "
        f"last x{last / max(baseline.latencies):.2f}"
    )
    say(
        f"  aim: every answer of the race within {AIM_SECONDS:g} s: "
        f"{'met' if last < AIM_SECONDS else 'NOT met'} (last {last:.2f} s)"
    )
    problems = []
    if baseline.held != args.buyers:
        problems.append(f"the baseline held {baseline.held} of {args.buyers}: {baseline.other[:3]}")
    if raced.held != args.seats or raced.sold_out != args.buyers - args.seats or raced.other:
        problems.append(
            f"the race held {raced.held} (seats {args.seats}), {raced.sold_out} sold out, "
            f"other: {raced.other[:3]}"
        )
    for problem in problems:
        say(f"FAILED: {problem}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_on_term)
    stack = new_stack("bench-race-", hop_proxy=False)
    code = 1
    try:
        key, ops = start_and_sign_in(stack)
        say(f"==> Setup: {2 * args.buyers} customers with a general ticket each")
        customers = asyncio.run(create_customers(stack, ops, 2 * args.buyers, 1))
        for customer in customers:
            customer.token = customer_token(stack, key, customer)
        code = asyncio.run(race(stack, ops, customers, args))
    except KeyboardInterrupt:
        say("\nInterrupted; stopping the stack.")
        code = 130
    except JourneyFailed as exc:
        say(f"FAILED: {exc}")
    finally:
        say("==> Stopping the stack (SIGTERM)")
        stack.stop()
    if code == 0 and not args.keep_logs:
        shutil.rmtree(stack.workdir, ignore_errors=True)
    else:
        say(f"The stack's output and logs are in {stack.workdir} (run.out, .dev/logs/)")
    return code


if __name__ == "__main__":
    sys.exit(main())
