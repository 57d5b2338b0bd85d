"""The loop's limits and failures with a scripted model and no servers: throttling retried
with backoff, a model that stays down, the wall-time limit (on a stepped clock, no sleeps), and
an unexpected failure told in plain words, a tool that never answers, and what a turn cost.
Memory is the real PostgreSQL store."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastmcp import Client, FastMCP

from host.loop import Concierge, Customer, Limits
from host.memory.postgres import PostgresMemory
from host.providers.base import Finished, ModelError, ModelEvent, ModelRequest
from host.providers.scripted import Call, Say, ScriptedModel, Step
from host.toolbox import McpServer
from servers.core.backoff import Backoff
from servers.core.db.postgres import PostgresDatabase
from tests.host.support import told

CUSTOMER = Customer("cus_loop", "not-a-real-token", frozenset())


@pytest.fixture
async def memory(database_url: str) -> AsyncIterator[PostgresMemory]:
    db = await PostgresDatabase(database_url, min_size=1, max_size=2).open()
    try:
        yield PostgresMemory(db)
    finally:
        await db.close()


async def run_turn(
    memory: PostgresMemory, plan: list[Step] | Any, **options: Any
) -> tuple[ScriptedModel, list[dict[str, Any]]]:
    model = ScriptedModel(plan)
    options.setdefault("servers", [])
    concierge = Concierge(model, memory, backoff=Backoff(0.001, 0.002, jitter=0), **options)
    session = await memory.new_session(CUSTOMER.customer_id)
    return model, [e async for e in concierge.turn(CUSTOMER, session, "hello")]


def errors(events: list[dict[str, Any]]) -> list[str]:
    return [e["code"] for e in events if e["type"] == "error"]


async def test_throttling_is_retried_then_answered(memory: PostgresMemory) -> None:
    throttled = ModelError("slow down", throttled=True)
    model, events = await run_turn(memory, [throttled, throttled, [Say("Hi!")]])
    assert len(model.requests) == 3
    assert errors(events) == []
    assert [e["delta"] for e in events if e["type"] == "text"] == ["Hi!"]


async def test_a_model_that_stays_down_is_reported_without_details(
    memory: PostgresMemory,
) -> None:
    down = ModelError("HTTP 500 from https://internal.example/v1 key=sk-123")
    _model, events = await run_turn(memory, [down])
    assert errors(events) == ["MODEL_UNAVAILABLE"]
    assert "internal.example" not in str(events)
    assert events[-1]["type"] == "done"


async def test_throttling_past_the_retries_is_reported(memory: PostgresMemory) -> None:
    throttled = ModelError("slow down", throttled=True)
    model, events = await run_turn(
        memory, itertools.repeat(throttled), limits=Limits(model_retries=2)
    )
    assert len(model.requests) == 3
    assert errors(events) == ["MODEL_UNAVAILABLE"]


async def test_the_wall_time_limit_stops_the_turn(memory: PostgresMemory) -> None:
    ticks = itertools.count(step=10)
    model, events = await run_turn(
        memory,
        itertools.repeat([Call("list_my_tickets")]),
        limits=Limits(turn_timeout_seconds=45, max_steps=50),
        clock=lambda: float(next(ticks)),
    )
    assert errors(events) == ["TIME_LIMIT"]
    assert 1 <= len(model.requests) < 50


async def test_an_unexpected_failure_is_told_plainly(memory: PostgresMemory) -> None:
    def broken(request: ModelRequest) -> list[Say]:
        raise RuntimeError("secret internals")

    _model, events = await run_turn(memory, [broken])
    assert errors(events) == ["UNEXPECTED"]
    assert "secret internals" not in str(events)
    assert events[-1]["type"] == "done"


async def test_a_tool_that_does_not_answer_is_timed_out(memory: PostgresMemory) -> None:
    """An in-memory MCP server whose one tool never answers: the call is given up after the
    tool time-out, the model is told the service is unavailable, the customer sees plain words,
    and the turn goes on."""
    server = FastMCP("stuck")
    never = asyncio.Event()

    @server.tool
    async def wait_forever() -> str:
        await never.wait()
        return "never"

    def connect(_server: McpServer, _token: str, timeout: float) -> Client[Any]:
        return Client(server, timeout=timeout)

    model, events = await run_turn(
        memory,
        [[Call("wait_forever")], [Say("That service is slow today.")]],
        servers=[McpServer("stuck", "memory://stuck")],
        connect=connect,
        limits=Limits(tool_timeout_seconds=0.5),
    )
    (result,) = [e for e in events if e["type"] == "tool_result"]
    assert result["ok"] is False
    assert "UNAVAILABLE" not in result["summary"]
    assert told(model.requests[1]) == [
        "UNAVAILABLE: the service could not do this right now; try again in a moment"
    ]
    assert errors(events) == []
    assert events[-1]["type"] == "done"


async def test_tool_calls_per_turn_are_bounded(memory: PostgresMemory) -> None:
    """However many calls one answer asks for: past the limit they are not run, and the model
    is told so."""
    calls = [Call("list_my_tickets") for _ in range(5)]
    model, events = await run_turn(
        memory, [calls, [Say("Here is what I found.")]], limits=Limits(max_tool_calls=3)
    )
    outcomes = [e["summary"] for e in events if e["type"] == "tool_result"]
    assert outcomes[3:] == ["Skipped: that was too many steps at once."] * 2
    results = told(model.requests[1])
    assert [r.startswith("UNKNOWN_TOOL") for r in results] == [True] * 3 + [False] * 2
    assert [r.startswith("TOOL_LIMIT") for r in results] == [False] * 3 + [True] * 2
    assert errors(events) == []


@dataclass
class Metered:
    """The scripted model, reporting token counts as a real provider does in its last event."""

    inner: ScriptedModel
    tokens: Iterator[tuple[int, int]]

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        async for event in self.inner.stream(request):
            if isinstance(event, Finished):
                event = Finished(event.stop_reason, *next(self.tokens))
            yield event


async def test_a_turn_s_usage_is_told_and_kept_with_its_events(memory: PostgresMemory) -> None:
    throttled = ModelError("slow down", throttled=True)
    plan: list[Step] = [throttled, [Call("list_my_tickets")], [Say("Here you are.")]]
    model = Metered(ScriptedModel(plan), iter([(120, 15), (180, 25)]))
    concierge = Concierge(model, memory, [], backoff=Backoff(0.001, 0.002, jitter=0))
    session = await memory.new_session(CUSTOMER.customer_id)
    turn = [e async for e in concierge.turn(CUSTOMER, session, "my tickets?")]
    # The throttled attempt answered nothing: two model calls, their tokens summed.
    usage = {"model_calls": 2, "input_tokens": 300, "output_tokens": 40}
    assert turn[-1] == {"type": "done", "usage": usage}
    kept = await memory.events(session)
    assert kept[-1] == {"type": "done", "usage": usage}
    # A refused card number never reaches the model: the turn cost nothing.
    card = [e async for e in concierge.turn(CUSTOMER, session, "card 4242 4242 4242 4242")]
    assert card[-1]["usage"] == {"model_calls": 0, "input_tokens": 0, "output_tokens": 0}
