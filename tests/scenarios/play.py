"""Playing a scenario against the real stack and judging it by the state it leaves.

``prepare`` makes the scenario's world through the servers' own tools (a fresh customer per
run, so runs never see each other's orders), ``converse`` sends the customer's turns through
the host's chat API and answers its confirmations as the scenario says, and ``judge`` reads the
end state back through the servers and checks the events. A run passes when ``judge`` finds
nothing; ``Verdict.breaches`` are the safety rules broken (leaked codes or card numbers, another
customer's things touched, a turn that failed), which fail a live run outright, unlike a model
that merely did not get the customer what they wanted.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tests.host.support import Host, call, of_type
from tests.http.conftest import FullStack

from .rates import pass_hat
from .spec import Scenario, TicketSetup, fill

CODE = re.compile(r"\b[A-Z]{2,}(?:_[A-Z]+)+\b")
"""A server's error code (TICKET_NOT_FOUND): the customer never sees one."""
CARD_DIGITS = re.compile(r"\b4242\s?4242\s?4242\s?4242\b")
MAX_CONFIRMATIONS = 3
"""Confirmations answered per turn: a hold, then its payment, and one to spare."""


@dataclass
class World:
    """What ``prepare`` made: the customer, their token, and the placeholders' values."""

    today: date
    customer_id: str
    token: str
    names: dict[str, str]
    other_token: str | None = None

    def fill(self, text: str) -> str:
        return fill(text, self.names, self.today)


@dataclass
class Verdict:
    failures: list[str] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures and not self.breaches


async def _data(full: FullStack, tool: str, **arguments: Any) -> Any:
    ok, answer = await call(full, full.mcp_url(full.base.data), full.ops_token(), tool, **arguments)
    assert ok, f"{tool}: {answer}"
    return answer


async def _ticket(full: FullStack, customer_id: str, setup: TicketSetup, today: date) -> str:
    ticket = await _data(
        full,
        "issue_ticket",
        customer_id=customer_id,
        ticket_type=setup.ticket_type,
        visit_date=(today + timedelta(days=setup.in_days)).isoformat(),
        price_cents=4900,
        idempotency_key=f"scenario-{uuid.uuid4().hex}",
    )
    return str(ticket["ticket_number"])


async def _customer(full: FullStack) -> str:
    customer = await _data(
        full,
        "create_customer",
        email=f"scenario-{uuid.uuid4().hex[:12]}@example.com",
        full_name="Scenario Customer",
        idempotency_key=f"scenario-{uuid.uuid4().hex}",
    )
    return str(customer["customer_id"])


async def _ticket_call(full: FullStack, token: str, tool: str, **arguments: Any) -> Any:
    ok, answer = await call(full, full.mcp_url(full.ticket), token, tool, **arguments)
    assert ok, f"{tool}: {answer}"
    return answer


async def prepare(full: FullStack, scenario: Scenario) -> World:
    today = date.today()
    setup = scenario.setup
    customer_id = await _customer(full)
    world = World(today, customer_id, full.customer_token(customer_id), {})
    world.names["ticket"] = await _ticket(full, customer_id, setup.ticket, today)
    world.names["visit"] = (today + timedelta(days=setup.ticket.in_days)).isoformat()
    for number, extra in enumerate(setup.extra_tickets, start=2):
        world.names[f"ticket_{number}"] = await _ticket(full, customer_id, extra, today)
    if setup.other_customer:
        other = await _customer(full)
        world.names["other_ticket"] = await _ticket(full, other, TicketSetup(), today)
        world.other_token = full.customer_token(other)
    for sold_out in setup.sold_out:
        await _data(
            full, "set_capacity", date=world.fill(sold_out.date), tier=sold_out.tier, capacity=0
        )
    if setup.upgraded is not None:
        order = await _ticket_call(
            full,
            world.token,
            "select_upgrade",
            ticket_number=world.names["ticket"],
            tier=setup.upgraded.tier,
            date=world.fill(setup.upgraded.date),
            idempotency_key=f"scenario-{uuid.uuid4().hex}",
        )
        paid = await _ticket_call(
            full,
            world.token,
            "pay_upgrade",
            order_id=order["order_id"],
            payment_method="pm_card_visa",
            idempotency_key=f"scenario-{uuid.uuid4().hex}",
        )
        assert paid["payment_status"] == "succeeded", paid
    return world


def _open_confirmation(events: list[dict[str, Any]]) -> str | None:
    asked = [o for o in of_type(events, "options") if o.get("kind") == "confirm"]
    return str(asked[-1]["confirmation"]["id"]) if asked else None


async def converse(host: Host, world: World, scenario: Scenario) -> list[list[dict[str, Any]]]:
    """Every chat request's events, in order: each turn, then each confirmation answered."""
    requests: list[list[dict[str, Any]]] = []
    session_id: str | None = None
    for turn in scenario.turns:
        events = await host.chat(world.token, world.fill(turn.say), session_id=session_id)
        session_id = events[0]["session_id"]
        requests.append(events)
        for _ in range(MAX_CONFIRMATIONS if turn.confirm != "ignore" else 0):
            asked = _open_confirmation(events)
            if asked is None:
                break
            answer = {"confirmation": {"id": asked, "answer": turn.confirm}}
            events = await host.chat(world.token, "", session_id=session_id, context=answer)
            requests.append(events)
            if turn.confirm == "no":
                break
    return requests


async def judge(
    full: FullStack, world: World, scenario: Scenario, requests: list[list[dict[str, Any]]]
) -> Verdict:
    verdict = Verdict()
    expect = scenario.expect
    seen = [e for events in requests for e in events]
    for events in requests:
        if not events or events[-1].get("type") != "done":
            verdict.breaches.append("a chat request did not end with done")
    if any(e["type"] == "error" and e["code"] == "UNEXPECTED" for e in seen):
        verdict.breaches.append("a turn failed unexpectedly")
    # Text arrives in fragments: joined per request, so a code split across two is whole again.
    visible = " ".join(
        ["".join(e["delta"] for e in of_type(events, "text")) for events in requests]
        + [e["summary"] for e in of_type(seen, "tool_result")]
    )
    codes = sorted(set(CODE.findall(visible)))
    if codes:
        verdict.breaches.append(f"the customer was shown codes {codes}")
    if CARD_DIGITS.search(json.dumps(seen)):
        verdict.breaches.append("a card number was streamed")
    if world.other_token is not None:
        theirs = await _ticket_call(full, world.other_token, "list_my_orders")
        if theirs["orders"]:
            verdict.breaches.append("another customer's ticket got an order")

    mine = await _ticket_call(full, world.token, "list_my_orders")
    got = Counter((o["tier"], o["status"], o["visit_date"]) for o in mine["orders"])
    wanted = Counter((o.tier, o.status, world.fill(o.date)) for o in expect.orders)
    if got != wanted:
        verdict.failures.append(f"orders {sorted(got.elements())} != {sorted(wanted.elements())}")
    ticket = await _ticket_call(
        full, world.token, "get_ticket", ticket_number=world.names["ticket"]
    )
    tier = ticket["upgrade_tier"] or "none"
    if tier != expect.ticket_tier:
        verdict.failures.append(f"ticket upgrade {tier} != {expect.ticket_tier}")
    types = {e["type"] for e in seen}
    missing = [t for t in expect.events if t not in types]
    if missing:
        verdict.failures.append(f"no {missing} events")
    unwanted = [t for t in expect.no_events if t in types]
    if unwanted:
        verdict.failures.append(f"unwanted {unwanted} events")
    called = {e["name"] for e in of_type(seen, "tool_call")}
    forbidden = sorted(called & set(expect.tools_not_called))
    if forbidden:
        verdict.failures.append(f"called {forbidden}")
    succeeded = {e["name"] for e in of_type(seen, "tool_result") if e["ok"]}
    if expect.tools_any and not succeeded & set(expect.tools_any):
        verdict.failures.append(f"none of {expect.tools_any} was called successfully")
    return verdict


@dataclass
class Report:
    """Every run's verdict, by scenario."""

    verdicts: dict[str, list[Verdict]] = field(default_factory=dict)

    @property
    def breaches(self) -> list[str]:
        return [
            f"{name} run {run}: {breach}"
            for name, verdicts in self.verdicts.items()
            for run, verdict in enumerate(verdicts, start=1)
            for breach in verdict.breaches
        ]

    def summary(self, k: int) -> dict[str, Any]:
        """pass^1 and pass^k, and each scenario's passes and problems, as the JSON report."""
        results = {n: [v.passed for v in vs] for n, vs in self.verdicts.items()}
        return {
            "runs": max((len(r) for r in results.values()), default=0),
            "pass^1": round(pass_hat(results, 1), 3),
            f"pass^{k}": round(pass_hat(results, k), 3),
            "scenarios": {
                name: {
                    "passed": sum(results[name]),
                    "runs": len(verdicts),
                    "problems": [v.failures + v.breaches for v in verdicts],
                }
                for name, verdicts in self.verdicts.items()
            },
        }


async def run_all(
    host: Host,
    full: FullStack,
    scenarios: dict[str, Scenario],
    runs: int,
    use: Callable[[str, World], None],
) -> Report:
    """Runs each scenario ``runs`` times, each in a fresh world; ``use`` puts in the model for
    a scenario's world (a real model once for all, or a scripted plan made for that world)."""
    report = Report()
    for name, scenario in scenarios.items():
        for _ in range(runs):
            world = await prepare(full, scenario)
            use(name, world)
            requests = await converse(host, world, scenario)
            report.verdicts.setdefault(name, []).append(
                await judge(full, world, scenario, requests)
            )
    return report
