"""The host's entry points on one port, served by uvicorn as ``python -m host`` assembles them
(host/assemble.py), with a scripted model, against the real servers of ``full_stack``:
AgentCore's ``/invocations`` and ``/ping`` (its contract checked against
``BedrockAgentCoreApp`` itself), ``ask_concierge`` on ``/mcp`` through fastmcp's HTTP client,
and visitors who are not signed in (the host's own catalogue-only token)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from bedrock_agentcore.runtime import BedrockAgentCoreApp
from bedrock_agentcore.runtime.models import SESSION_HEADER
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.exceptions import ToolError

from host.api import build_app
from host.assemble import assembled
from host.loop import Concierge
from host.memory.base import Session
from host.memory.postgres import PostgresMemory
from host.providers.base import (
    Finished,
    Message,
    ModelEvent,
    ModelRequest,
    TextDelta,
    ToolResultBlock,
)
from host.providers.scripted import Call, Say, ScriptedModel, Step
from host.toolbox import VISITOR_NOTE
from servers.core.backoff import Backoff
from servers.core.clock import utc_now
from servers.core.db.connect import ping
from servers.core.db.postgres import PostgresDatabase
from servers.core.scopes import CONCIERGE_CHAT, TICKETS_READ
from servers.devidp.clients import ClientRegistry
from tests.host.support import new_customer, of_type, settings_for, sse_events
from tests.http.conftest import HOST, FullStack
from ticketing.procs import free_port

pytestmark = pytest.mark.http

CATALOGUE_TOOLS = {"get_price_calendar", "quote_price", "search_help"}
RUNTIME_SESSION = "runtime-session-0123456789abcdef0123456789"  # AgentCore: >= 33 characters


class Plan:
    """The running host's model: each test scripts its own."""

    def __init__(self) -> None:
        self.model: Any = ScriptedModel([])

    def script(self, plan: Iterable[Step]) -> ScriptedModel:
        model = ScriptedModel(plan)
        self.model = model
        return model

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        stream: AsyncIterator[ModelEvent] = self.model.stream(request)
        return stream


class Held:
    """A model that answers only once released: a turn stays in flight until then."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        await self.release.wait()
        yield TextDelta("Here I am.")
        yield Finished("end_turn")


@dataclass
class Entry:
    full: FullStack
    url: str
    plan: Plan
    db: PostgresDatabase

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=60, trust_env=False)

    async def invoke(
        self,
        payload: dict[str, Any],
        *,
        token: str | None = None,
        runtime_session: str | None = RUNTIME_SESSION,
    ) -> httpx.Response:
        headers = {} if token is None else {"authorization": f"Bearer {token}"}
        if runtime_session is not None:
            headers[SESSION_HEADER] = runtime_session
        async with self.http() as http:
            return await http.post("/invocations", json=payload, headers=headers)

    def mcp(self, token: str) -> Client[StreamableHttpTransport]:
        return Client(StreamableHttpTransport(f"{self.url}/mcp", auth=token), timeout=60)


@pytest.fixture(scope="module")
async def entry(full_stack: FullStack) -> AsyncIterator[Entry]:
    port = free_port(HOST)
    secret = ClientRegistry.load(full_stack.base.key).client_secret("host-agent")
    settings = settings_for(
        full_stack,
        host=HOST,
        port=port,
        public_url=f"http://{HOST}:{port}",
        client_secret=secret,
    )
    plan = Plan()
    db = await PostgresDatabase(full_stack.database_url, min_size=1, max_size=4).open()
    try:
        async with assembled(
            settings,
            plan,
            PostgresMemory(db),
            lambda: ping(db),
            backoff=Backoff(0.01, 0.05, jitter=0),
        ) as app:
            server = uvicorn.Server(
                uvicorn.Config(app, host=HOST, port=port, log_config=None, access_log=False)
            )
            serving = asyncio.create_task(server.serve())
            deadline = time.monotonic() + 30
            while not server.started:
                assert not serving.done(), "the host did not start"
                assert time.monotonic() < deadline, "the host did not start in 30 s"
                await asyncio.sleep(0.02)
            try:
                yield Entry(full_stack, f"http://{HOST}:{port}", plan, db)
            finally:
                server.should_exit = True
                await serving
    finally:
        await db.close()


def tool_results(request: ModelRequest) -> list[str]:
    """What the model was told the tools answered."""
    return [b.content for m in request.messages for b in m.blocks if isinstance(b, ToolResultBlock)]


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in of_type(events, "text"))


# ---------------------------------------------------------------------------------------------
# AgentCore: /invocations and /ping


async def test_the_agentcore_contract_is_the_sdks(entry: Entry) -> None:
    """BedrockAgentCoreApp and the host answer /ping and stream /invocations alike."""
    sdk = BedrockAgentCoreApp()

    @sdk.entrypoint
    async def agent(payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        yield {"type": "text", "delta": payload["prompt"]}

    customer, _ = await new_customer(entry.full)
    entry.plan.script([[Say("Hello there.")]])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sdk), base_url="http://sdk"
    ) as theirs:
        their_ping = await theirs.get("/ping")
        their_answer = await theirs.post(
            "/invocations", json={"prompt": "hi"}, headers={SESSION_HEADER: RUNTIME_SESSION}
        )
    async with entry.http() as http:
        our_ping = await http.get("/ping")
    ours = await entry.invoke({"prompt": "hi"}, token=entry.full.customer_token(customer))

    assert our_ping.status_code == their_ping.status_code == 200
    assert our_ping.json().keys() == their_ping.json().keys()
    assert our_ping.json()["status"] == their_ping.json()["status"] == "Healthy"
    assert isinstance(our_ping.json()["time_of_last_update"], int)
    for answer in (ours, their_answer):
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        # Server-sent events, each a JSON object on one data: line.
        frames = [f for f in answer.text.split("\n\n") if f]
        assert frames
        assert all(f.startswith("data: ") and "\n" not in f for f in frames)
    assert sse_events(their_answer.text) == [{"type": "text", "delta": "hi"}]
    events = sse_events(ours.text)
    assert events[0]["type"] == "session"
    assert events[-1]["type"] == "done"
    assert text_of(events) == "Hello there."


async def test_invocations_keep_the_runtime_session_per_customer(entry: Entry) -> None:
    me, ticket = await new_customer(entry.full)
    other, _ = await new_customer(entry.full)
    mine = entry.full.customer_token(me)
    model = entry.plan.script(
        [
            [Say("Let me look."), Call("list_my_tickets")],
            [Say("You have one ticket.")],
            [Say("Still here.")],
            [Say("Who are you?")],
        ]
    )
    first = await entry.invoke({"prompt": "What tickets do I have?"}, token=mine)
    events = sse_events(first.text)
    assert [(e["name"], e["ok"]) for e in of_type(events, "tool_result")] == [
        ("list_my_tickets", True)
    ]
    assert ticket in tool_results(model.requests[1])[0]
    again = sse_events((await entry.invoke({"message": "And now?"}, token=mine)).text)
    # The runtime's session header is the conversation: the same session, its context kept.
    assert again[0]["session_id"] == events[0]["session_id"]
    assert any("You have one ticket." in m.text for m in model.requests[2].messages)
    # Another customer choosing the same runtime session id gets a session of their own.
    theirs = sse_events(
        (await entry.invoke({"prompt": "hi"}, token=entry.full.customer_token(other))).text
    )
    assert theirs[0]["session_id"] != events[0]["session_id"]
    assert not any("You have one ticket." in m.text for m in model.requests[3].messages)


async def test_invocations_refuse_bad_requests_in_plain_words(entry: Entry) -> None:
    me, _ = await new_customer(entry.full)
    token = entry.full.customer_token(me)
    forged = await entry.invoke({"prompt": "hi"}, token="not-a-jwt")
    assert forged.status_code == 401
    assert "resource_metadata=" in forged.headers["www-authenticate"]
    no_scope = entry.full.base.token([TICKETS_READ], client_id="web", sub=me)
    assert (await entry.invoke({"prompt": "hi"}, token=no_scope)).status_code in (401, 403)
    both = await entry.invoke({"prompt": "a", "message": "b"}, token=token)
    assert both.status_code == 400
    assert both.json()["error"] == "invalid_request"
    async with entry.http() as http:
        garbage = await http.post(
            "/invocations", content=b"{not json", headers={"authorization": f"Bearer {token}"}
        )
    assert garbage.status_code == 400
    unknown = await entry.invoke({"prompt": "hi", "session_id": "ses_" + "a" * 26}, token=token)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "session_not_found"


async def test_ping_is_busy_while_a_turn_runs(entry: Entry) -> None:
    me, _ = await new_customer(entry.full)
    held = Held()
    entry.plan.model = held
    async with entry.http() as http:
        async with http.stream(
            "POST",
            "/invocations",
            json={"prompt": "hello?"},
            headers={"authorization": f"Bearer {entry.full.customer_token(me)}"},
        ) as answer:
            lines = answer.aiter_lines()
            first = await anext(lines)
            assert json.loads(first[6:])["type"] == "session"
            busy = (await http.get("/ping")).json()
            held.release.set()
            rest = [line async for line in lines]
        idle = (await http.get("/ping")).json()
    assert busy["status"] == "HealthyBusy"
    assert idle["status"] == "Healthy"
    assert idle["time_of_last_update"] >= busy["time_of_last_update"]
    assert "Here I am." in "".join(rest)


class Exploding:
    """A memory store that fails with internals in its error: where, and what it was doing."""

    def __init__(self, failing: str) -> None:
        self.failing = failing

    def _maybe(self, what: str) -> None:
        if what == self.failing:
            raise RuntimeError(f"{what}: INSERT INTO host.turns password=hunter2 at /srv/x.py")

    async def new_session(self, customer_id: str) -> Session:
        self._maybe("lookup")
        return Session("ses_" + "b" * 26, customer_id, utc_now())

    async def open_session(self, customer_id: str, session_id: str) -> Session | None:
        self._maybe("lookup")
        return Session(session_id, customer_id, utc_now())

    async def recall(self, customer_id: str, query: str) -> list[str]:
        return []

    async def session(self, customer_id: str, session_id: str) -> Session | None:
        self._maybe("lookup")
        return None

    async def messages(self, session: Session) -> list[Message]:
        return []

    async def events(self, session: Session) -> list[dict[str, Any]]:
        return []

    async def save_turn(
        self, session: Session, messages: list[Message], events: list[dict[str, Any]]
    ) -> None:
        self._maybe("save_turn")


@pytest.mark.parametrize("failing", ["lookup", "save_turn"])
async def test_a_failing_invocation_leaks_nothing(entry: Entry, failing: str) -> None:
    """Failures before and during the stream: a code and plain words, never the internals
    (BedrockAgentCoreApp would answer str(e))."""
    me, _ = await new_customer(entry.full)
    memory = Exploding(failing)
    model = ScriptedModel([[Say("Hi.")]])
    settings = settings_for(entry.full)
    app = build_app(
        settings,
        memory=memory,
        concierge=Concierge(model, memory, []),
        health=lambda: ping(entry.db),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8080"
    ) as http:
        authorization = {"authorization": f"Bearer {entry.full.customer_token(me)}"}
        answers = [
            await http.post(
                "/invocations",
                json={"prompt": "hi"},
                headers={**authorization, SESSION_HEADER: RUNTIME_SESSION},
            ),
            await http.post("/api/chat", json={"message": "hi"}, headers=authorization),
        ]
    for answer in answers:
        for leak in ("hunter2", "INSERT", "RuntimeError", "Traceback", "/srv/", "lookup"):
            assert leak not in answer.text
        if failing == "lookup":
            assert answer.status_code == 500
            assert answer.json()["error"] == "internal"
            assert "request id" in answer.json()["error_description"]
        else:
            events = sse_events(answer.text)
            assert of_type(events, "error")[-1]["code"] == "UNEXPECTED"
            assert events[-1]["type"] == "done"


async def test_without_a_model_every_entry_says_which_settings_to_set(entry: Entry) -> None:
    """Signed in or not, over the chat API or AgentCore's: the same 503, naming the settings."""
    me, _ = await new_customer(entry.full)
    memory = Exploding("nothing")
    app = build_app(
        settings_for(entry.full), memory=memory, concierge=None, health=lambda: ping(entry.db)
    )
    token = {"authorization": f"Bearer {entry.full.customer_token(me)}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8080"
    ) as http:
        answers = [
            await http.post("/api/chat", json={"message": "hi"}),
            await http.post("/invocations", json={"prompt": "hi"}),
            await http.post("/invocations", json={"prompt": "hi"}, headers=token),
        ]
    for answer in answers:
        assert answer.status_code == 503
        assert "HOST_MODEL_PROVIDER" in answer.json()["error_description"]


# ---------------------------------------------------------------------------------------------
# /mcp: ask_concierge


async def test_ask_concierge_holds_an_upgrade_after_the_customers_yes(entry: Entry) -> None:
    me, ticket = await new_customer(entry.full)
    token = entry.full.customer_token(me)
    day = (date.today() + timedelta(days=9)).isoformat()
    choice = {"ticket_number": ticket, "tier": "non_stop", "date": day}
    entry.plan.script(
        [
            [Call("select_upgrade", choice)],
            [Say("Please confirm Non-stop on that day.")],
            [Call("select_upgrade", choice)],
            [Say("Your seat is held; pay within the hold.")],
        ]
    )
    async with entry.mcp(token) as client:
        assert {t.name for t in await client.list_tools()} == {"ask_concierge"}
        asked = await client.call_tool("ask_concierge", {"message": f"Non-stop on {day}"})
        first = asked.structured_content
        assert first is not None
        assert first["text"] == "Please confirm Non-stop on that day."
        (options,) = first["options"]
        confirmation = options["confirmation"]
        assert (confirmation["ticket_number"], confirmation["tier"]) == (ticket, "non_stop")
        assert first["payment_required"] is None
        held = await client.call_tool(
            "ask_concierge",
            {
                "message": "yes",
                "session_id": first["session_id"],
                "confirmation": {"id": confirmation["id"], "answer": "yes"},
            },
        )
    second = held.structured_content
    assert second is not None
    assert second["session_id"] == first["session_id"]
    assert second["errors"] == []
    payment = second["payment_required"]
    assert payment["amount_cents"] == confirmation["amount_cents"]
    assert payment["currency"] == "USD"
    assert payment["order_id"].startswith("ord_")


async def test_ask_concierge_is_the_customers_own(entry: Entry) -> None:
    me, _ = await new_customer(entry.full)
    other, _ = await new_customer(entry.full)
    entry.plan.script([[Say("Hi.")]])
    async with entry.mcp(entry.full.customer_token(me)) as client:
        mine = (await client.call_tool("ask_concierge", {"message": "hi"})).structured_content
    assert mine is not None
    async with entry.mcp(entry.full.customer_token(other)) as client:
        with pytest.raises(ToolError, match=r"^SESSION_NOT_FOUND: "):
            await client.call_tool(
                "ask_concierge", {"message": "hi", "session_id": mine["session_id"]}
            )
    # A token for other servers only is not for this one.
    tickets_only = entry.full.base.token([TICKETS_READ], client_id="web", sub=me)
    async with entry.http() as http:
        refused = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={
                "authorization": f"Bearer {tickets_only}",
                "accept": "application/json, text/event-stream",
            },
        )
        metadata = await http.get("/.well-known/oauth-protected-resource/mcp")
    assert refused.status_code == 401
    assert metadata.json()["scopes_supported"] == [CONCIERGE_CHAT]


# ---------------------------------------------------------------------------------------------
# Visitors who are not signed in


async def test_a_visitor_gets_public_prices_with_the_hosts_own_token(entry: Entry) -> None:
    day = (date.today() + timedelta(days=10)).isoformat()
    asked = {"ticket_type": "general", "tier": "double_fun", "date": day}
    model = entry.plan.script(
        [
            [Call("quote_price", asked)],
            [Say("Here is the price.")],
            [Say("Any other date?")],
        ]
    )
    async with entry.http() as http:
        answer = await http.post(
            "/api/chat", json={"message": f"What does Double Fun cost on {day}?"}
        )
        assert answer.status_code == 200, answer.text
        events = sse_events(answer.text)
        session_id = events[0]["session_id"]
        later = await http.post(
            "/api/chat", json={"message": "And another day?", "session_id": session_id}
        )
    assert [(e["name"], e["ok"]) for e in of_type(events, "tool_result")] == [("quote_price", True)]
    # Discovered with the host's catalogue-only token: the public tools, nothing of a
    # customer's, nothing of the payment server's.
    assert {t.name for t in model.requests[0].tools} == CATALOGUE_TOOLS
    assert VISITOR_NOTE in model.requests[0].system
    public = await direct_quote(entry, asked)
    assert str(public["total_cents"]) in tool_results(model.requests[1])[0]
    # The visitor's session goes on, in this process only: nothing under any customer.
    assert later.status_code == 200
    assert sse_events(later.text)[0]["session_id"] == session_id
    assert any("Here is the price." in m.text for m in model.requests[2].messages)
    with psycopg.connect(entry.full.database_url) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM host.sessions WHERE session_id = %s", (session_id,)
        ).fetchone()
    assert stored == (0,)
    # Neither kind of session opens from the other side.
    customer, _ = await new_customer(entry.full)
    token = entry.full.customer_token(customer)
    entry.plan.script([[Say("Hi.")]])
    async with entry.http() as http:
        as_customer = await http.post(
            "/api/chat",
            json={"message": "hi", "session_id": session_id},
            headers={"authorization": f"Bearer {token}"},
        )
        own = sse_events(
            (
                await http.post(
                    "/api/chat",
                    json={"message": "hi"},
                    headers={"authorization": f"Bearer {token}"},
                )
            ).text
        )[0]["session_id"]
        as_visitor = await http.post("/api/chat", json={"message": "hi", "session_id": own})
    assert as_customer.status_code == 404
    assert as_visitor.status_code == 404


async def test_a_visitor_asking_for_their_tickets_is_asked_to_sign_in(entry: Entry) -> None:
    model = entry.plan.script(
        [
            [Call("list_my_tickets"), Call("get_ticket", {"ticket_number": "TKT-JD0001"})],
            [Say("Please sign in first.")],
        ]
    )
    events = sse_events((await entry.invoke({"prompt": "Show me my tickets"})).text)
    results = of_type(events, "tool_result")
    assert [(r["name"], r["ok"]) for r in results] == [
        ("list_my_tickets", False),
        ("get_ticket", False),
    ]
    assert all(r["summary"].startswith("please sign in") for r in results)
    told = tool_results(model.requests[1])
    assert len(told) == 2
    assert all(t.startswith("SIGN_IN_REQUIRED: ") for t in told)
    assert not {t.name for t in model.requests[0].tools} - CATALOGUE_TOOLS
    assert "TKT-JD0001" not in text_of(events)


async def direct_quote(entry: Entry, arguments: dict[str, Any]) -> dict[str, Any]:
    """The public price as any MCP client with the catalogue scope gets it."""
    token = entry.full.base.token(["tickets/catalogue"], client_id="host-agent", sub="host-agent")
    async with Client(
        StreamableHttpTransport(entry.full.mcp_url(entry.full.ticket), auth=token), timeout=60
    ) as client:
        result = await client.call_tool("quote_price", arguments)
    quote: dict[str, Any] = result.structured_content or {}
    return quote
