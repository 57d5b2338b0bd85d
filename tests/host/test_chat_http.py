"""The concierge's loop, driven by a scripted model, against the real ticket and payment
servers over HTTP (tests/http's ``full_stack``): discovery with the customer's own token, the
confirmation the model cannot skip, a refusal inside 24 hours, other customers' tickets, card
numbers typed into the chat, the step limit, and the chat API's auth and 503."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date, timedelta

import httpx
import psycopg
import pytest

from host.loop import Limits
from host.providers.base import ModelRequest, ToolResultBlock
from host.providers.scripted import Call, Say, ScriptedModel
from servers.core.scopes import TICKETS_READ, TICKETS_WRITE
from servers.data.seed import seed_id
from tests.host.support import (
    call,
    last_order_id,
    new_customer,
    of_type,
    running_host,
)
from tests.http.conftest import HOST, FullStack, ServerProcess, _child_env
from ticketing.procs import free_port, wait_healthy

pytestmark = pytest.mark.http

CARD = "4242 4242 4242 4242"
# Any two of its groups, spaced or not: "4242" alone turns up in other sessions' timestamps.
CARD_PART = re.compile(r"4242[ -]?4242")


def visit_day(days: int = 9) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def tool_results(request: ModelRequest) -> list[str]:
    """What the model was told the tools answered."""
    return [b.content for m in request.messages for b in m.blocks if isinstance(b, ToolResultBlock)]


def customer_words(events: list[dict[str, object]]) -> str:
    """Everything the customer is shown of a turn but the tool calls' own arguments."""
    return json.dumps([e for e in events if e["type"] != "tool_call"])


async def test_upgrade_through_confirmation_and_payment(full_stack: FullStack) -> None:
    customer, ticket = await new_customer(full_stack)
    token = full_stack.customer_token(customer)
    day = visit_day()
    choice = {"ticket_number": ticket, "tier": "non_stop", "date": day}

    def pay(request: ModelRequest) -> list[Call | Say]:
        return [
            Call(
                "pay_upgrade",
                {"order_id": last_order_id(request), "payment_method": "pm_card_visa"},
            )
        ]

    model = ScriptedModel(
        [
            [Say("Let me look."), Call("list_my_tickets")],
            [Call("get_upgrade_options", {"ticket_number": ticket})],
            [Say("Non-stop is available. Which date?")],
            [Call("quote_upgrade", choice)],
            [Call("select_upgrade", choice)],
            [Say("Please confirm on your screen.")],
            [Call("select_upgrade", choice)],
            pay,
            [Say("All done!")],
        ]
    )
    async with running_host(full_stack, model) as host:
        first = await host.chat(token, "Can I upgrade my ticket?")
        session_id = first[0]["session_id"]
        assert first[0]["type"] == "session"
        assert first[-1]["type"] == "done"
        assert "".join(e["delta"] for e in of_type(first, "text")) == (
            "Let me look.Non-stop is available. Which date?"
        )
        assert [e["ok"] for e in of_type(first, "tool_result")] == [True, True]

        second = await host.chat(token, f"Non-stop on {day}", session_id=session_id)
        (options,) = of_type(second, "options")
        ok, quote = await call(
            full_stack, full_stack.mcp_url(full_stack.ticket), token, "quote_upgrade", **choice
        )
        assert ok
        confirmation = options["confirmation"]
        assert confirmation["amount_cents"] == quote["total_cents"]
        assert (confirmation["ticket_number"], confirmation["tier"], confirmation["date"]) == (
            ticket,
            "non_stop",
            day,
        )
        assert [c["value"] for c in options["choices"]] == ["yes", "no"]
        # Asked, not done: nothing is held yet.
        ok, orders = await call(
            full_stack, full_stack.mcp_url(full_stack.ticket), token, "list_my_orders"
        )
        assert ok
        assert orders["orders"] == []

        third = await host.chat(
            token,
            "",
            session_id=session_id,
            context={"confirmation": {"id": confirmation["id"], "answer": "yes"}},
        )
        assert [(e["name"], e["ok"]) for e in of_type(third, "tool_result")] == [
            ("select_upgrade", True),
            ("pay_upgrade", True),
        ]
        (required,) = of_type(third, "payment_required")
        assert required["amount_cents"] == quote["total_cents"]
        assert required["currency"] == "USD"
        history = await host.http.get(
            f"/api/sessions/{session_id}", headers={"authorization": f"Bearer {token}"}
        )

    ok, orders = await call(
        full_stack, full_stack.mcp_url(full_stack.ticket), token, "list_my_orders"
    )
    assert ok
    (order,) = orders["orders"]
    assert order["order_id"] == required["order_id"]
    assert order["status"] == "confirmed"
    assert order["amount_cents"] == quote["total_cents"]

    # The model was shown discovered tools, never the operators' customer_id nor the keys the
    # host fills in itself.
    tools = {t.name: t for t in model.requests[0].tools}
    assert {"list_my_tickets", "select_upgrade", "pay_upgrade"} <= tools.keys()
    for tool in tools.values():
        assert "customer_id" not in json.dumps(tool.input_schema)
        assert "idempotency_key" not in json.dumps(tool.input_schema)
    # The servers' own instructions and resources are in its system prompt.
    assert "Double Fun" in model.requests[0].system
    # A later turn carries the earlier ones: the session kept its context.
    assert any("Non-stop is available" in m.text for m in model.requests[3].messages)
    assert history.status_code == 200
    assert [e["type"] for e in history.json()["events"]].count("session") == 3


async def test_the_model_cannot_skip_the_confirmation(full_stack: FullStack) -> None:
    customer, ticket = await new_customer(full_stack)
    token = full_stack.customer_token(customer)
    choice = {"ticket_number": ticket, "tier": "standard", "date": visit_day(12)}
    model = ScriptedModel(
        [
            [Call("select_upgrade", choice), Call("select_upgrade", choice)],
            [Say("Booked!")],
            [Call("select_upgrade", choice)],
            [Say("Booked now!")],
        ]
    )
    async with running_host(full_stack, model) as host:
        events = await host.chat(token, "Just book Standard, don't ask me.")
        # One question, however often the model insists; the tool never ran.
        assert len(of_type(events, "options")) == 1
        assert [e["ok"] for e in of_type(events, "tool_result")] == [False, False]
        session_id = events[0]["session_id"]
        # A "yes" to a proposal that was never made is no yes.
        forged = await host.chat(
            token,
            "yes",
            session_id=session_id,
            context={"confirmation": {"id": "made-up", "answer": "yes"}},
        )
        assert of_type(forged, "error")[0]["code"] == "CONFIRMATION_CLOSED"
        assert [e["ok"] for e in of_type(forged, "tool_result")] == [False]
    ok, orders = await call(
        full_stack, full_stack.mcp_url(full_stack.ticket), token, "list_my_orders"
    )
    assert ok
    assert orders["orders"] == []
    told = tool_results(model.requests[1])
    assert all(t.startswith("CONFIRMATION_REQUIRED") for t in told)


async def test_too_late_is_explained_without_codes(full_stack: FullStack) -> None:
    customer, ticket = await new_customer(full_stack, days_ahead=0)
    token = full_stack.customer_token(customer)
    choice = {"ticket_number": ticket, "tier": "standard", "date": date.today().isoformat()}
    model = ScriptedModel([[Call("select_upgrade", choice)], [Say("Sorry, too late.")]])
    async with running_host(full_stack, model) as host:
        events = await host.chat(token, "Upgrade my ticket for today please")
    assert of_type(events, "options") == []
    (result,) = of_type(events, "tool_result")
    assert result["ok"] is False
    assert "DATE_NOT_BOOKABLE" not in customer_words(events)
    assert "TOO_LATE" not in customer_words(events)
    told = tool_results(model.requests[1])
    assert told[0].split(":")[0] in {"TOO_LATE", "DATE_NOT_BOOKABLE"}


async def test_another_customers_ticket_is_never_reachable(full_stack: FullStack) -> None:
    me, _mine = await new_customer(full_stack)
    other, theirs = await new_customer(full_stack)
    token = full_stack.customer_token(me)
    missing = "TKT-ZZZZ9999"
    model = ScriptedModel(
        [
            [Call("get_ticket", {"ticket_number": theirs})],
            [Call("get_ticket", {"ticket_number": missing})],
            [
                Call(
                    "select_upgrade",
                    {"ticket_number": theirs, "tier": "standard", "date": visit_day()},
                )
            ],
            [Say("I can't find that ticket.")],
        ]
    )
    async with running_host(full_stack, model) as host:
        events = await host.chat(token, f"Upgrade {theirs}")
    foreign, unknown, selecting = of_type(events, "tool_result")
    assert [foreign["ok"], unknown["ok"], selecting["ok"]] == [False, False, False]
    # The same answer as a ticket that does not exist, number aside.
    assert foreign["summary"].replace(theirs, "X") == unknown["summary"].replace(missing, "X")
    # Nothing to confirm: the only choices offered are the customer's own tickets.
    assert {o["kind"] for o in of_type(events, "options")} == {"ticket"}
    assert theirs not in json.dumps(of_type(events, "options"))
    ok, orders = await call(
        full_stack,
        full_stack.mcp_url(full_stack.ticket),
        full_stack.customer_token(other),
        "list_my_orders",
    )
    assert ok
    assert orders["orders"] == []


async def test_a_card_number_is_refused_and_never_stored(full_stack: FullStack) -> None:
    customer, _ticket = await new_customer(full_stack)
    token = full_stack.customer_token(customer)
    model = ScriptedModel([[Say("How can I help?")]])
    async with running_host(full_stack, model) as host:
        events = await host.chat(token, f"Pay with my card {CARD}, exp 12/30")
        assert of_type(events, "error")[0]["code"] == "CARD_NUMBER_REFUSED"
        assert model.requests == []
        later = await host.chat(token, "ok, what now?", session_id=events[0]["session_id"])
    assert of_type(later, "text")
    seen = json.dumps([m.text for r in model.requests for m in r.messages])
    assert not CARD_PART.search(seen)
    assert not CARD_PART.search(json.dumps(events + later))
    with psycopg.connect(full_stack.database_url) as conn:
        stored = conn.execute(
            "SELECT (SELECT json_agg(t)::text FROM host.turns t)"
            " || (SELECT json_agg(e)::text FROM host.events e)"
        ).fetchone()
    assert stored is not None
    assert "card number removed" in stored[0]
    assert not CARD_PART.search(stored[0])


async def test_the_step_limit_stops_a_looping_model(full_stack: FullStack) -> None:
    customer, _ticket = await new_customer(full_stack)
    token = full_stack.customer_token(customer)
    model = ScriptedModel(itertools.repeat([Call("list_my_tickets")]))
    async with running_host(full_stack, model, Limits(max_steps=3)) as host:
        events = await host.chat(token, "Loop forever")
    assert len(model.requests) == 3
    assert of_type(events, "error")[-1]["code"] == "STEP_LIMIT"
    assert events[-1]["type"] == "done"


async def test_chat_api_auth_sessions_and_no_model(full_stack: FullStack) -> None:
    me, _ = await new_customer(full_stack)
    other, _ = await new_customer(full_stack)
    model = ScriptedModel([[Say("Hello.")]])
    async with running_host(full_stack, model) as host:
        anonymous = await host.http.post("/api/chat", json={"message": "hi"})
        assert anonymous.status_code == 401
        assert "resource_metadata=" in anonymous.headers["www-authenticate"]
        no_scope = full_stack.base.token([TICKETS_READ, TICKETS_WRITE], client_id="web", sub=me)
        refused = await host.http.post(
            "/api/chat", json={"message": "hi"}, headers={"authorization": f"Bearer {no_scope}"}
        )
        assert refused.status_code in (401, 403)
        mine = (await host.chat(full_stack.customer_token(me), "hi"))[0]["session_id"]
        theirs = {"authorization": f"Bearer {full_stack.customer_token(other)}"}
        assert (await host.http.get(f"/api/sessions/{mine}", headers=theirs)).status_code == 404
        stolen = await host.http.post(
            "/api/chat", json={"message": "hi", "session_id": mine}, headers=theirs
        )
        assert stolen.status_code == 404
    async with running_host(full_stack, None) as host:
        answer = await host.http.post(
            "/api/chat",
            json={"message": "hi"},
            headers={"authorization": f"Bearer {full_stack.customer_token(me)}"},
        )
    assert answer.status_code == 503
    assert "HOST_MODEL_PROVIDER" in answer.json()["error_description"]


def test_the_host_process_starts_and_names_the_model_settings(full_stack: FullStack) -> None:
    port = free_port(HOST)
    issuer = full_stack.base.issuer
    host = ServerProcess(
        "concierge host",
        ["-m", "host"],
        _child_env(
            {
                "HOST_HOST": HOST,
                "HOST_PORT": str(port),
                "HOST_PUBLIC_URL": f"http://{HOST}:{port}",
                "HOST_DATABASE_URL": full_stack.database_url,
                "HOST_AUTH_ISSUER": issuer,
                "HOST_TICKET_URL": full_stack.mcp_url(full_stack.ticket),
                "HOST_PAYMENT_URL": full_stack.mcp_url(full_stack.payment),
            }
        ),
        full_stack.base.workdir / "host.log",
        cwd=full_stack.base.workdir,
        port=port,
    )
    # Stopped here, as the stack serves later modules (it stops the host too if the test fails).
    full_stack.base.servers.append(host)
    host.start()
    try:
        wait_healthy([host], 60)
        customer = full_stack.customer_token(seed_id("cus", "john.doe@example.com"))
        answer = httpx.post(
            f"{host.url}/api/chat",
            json={"message": "hi"},
            headers={"authorization": f"Bearer {customer}"},
            timeout=30,
            trust_env=False,
        )
        assert answer.status_code == 503
        assert "HOST_MODEL_PROVIDER" in answer.json()["error_description"]
        # The same port serves the web app's runtime configuration (and the app, once built).
        config = httpx.get(f"{host.url}/config.json", timeout=30, trust_env=False)
        assert config.status_code == 200, config.text
        assert config.json() == {
            "issuer": issuer,
            "client_id": "web",
            "ticket_url": full_stack.mcp_url(full_stack.ticket),
            "payment_url": full_stack.mcp_url(full_stack.payment),
        }
    finally:
        host.stop()
