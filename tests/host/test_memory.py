"""The memory stores, each test against both: PostgreSQL (a real database) and AgentCore Memory
(the SDK against the stand-in that botocore's service model holds to).

Property 3: a session keeps its context across turns and is isolated from other sessions and
customers (another customer's session id answers like an unknown one). Property 4: facts
remembered in one session are recalled in a later one of the same customer, never another's.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host.loop import Concierge, Customer
from host.memory.agentcore import AgentCoreMemory
from host.memory.base import MemoryStore, Session
from host.memory.facts import REMEMBER
from host.memory.postgres import PostgresMemory
from host.providers.base import Message, ModelRequest, TextBlock, ToolResultBlock, ToolUse
from host.providers.scripted import Action, Call, Say, ScriptedModel
from servers.core.db.postgres import PostgresDatabase
from ticketing.local_aws.agentcore_memory import LOCAL_MEMORY_ID, LocalAgentCoreMemory

CARD = "4242 4242 4242 4242"


class TickingClock:
    """One millisecond later at every reading: turns saved back to back still have an order."""

    def __init__(self) -> None:
        self._now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self._now += timedelta(milliseconds=1)
        return self._now


@pytest.fixture(params=["postgres", "agentcore"])
def database(request: pytest.FixtureRequest) -> str | None:
    """A fresh database's URL for the PostgreSQL store; None for AgentCore's, which has none."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("database_url")
        return url
    return None


@pytest.fixture
async def memory(database: str | None) -> AsyncIterator[MemoryStore]:
    if database is not None:
        db = await PostgresDatabase(database, min_size=1, max_size=2).open()
        try:
            yield PostgresMemory(db)
        finally:
            await db.close()
    else:
        local = LocalAgentCoreMemory()
        yield AgentCoreMemory(
            LOCAL_MEMORY_ID,
            region="us-west-2",
            boto3_session=local.boto3_session(),
            clock=TickingClock(),
        )


@pytest.fixture
def fresh() -> Iterator[int]:
    """Numbers for customer ids no earlier Hypothesis example of the test has used."""
    return itertools.count()


def turn(text: str) -> list[Message]:
    return [Message("user", (TextBlock(text),)), Message("assistant", (TextBlock(f"re {text}"),))]


def remembering(*facts: str, ok: bool = True) -> list[Message]:
    """A turn in which the model asked to keep ``facts`` and the loop answered ``ok``."""
    calls = tuple(ToolUse(f"c{i}", REMEMBER.name, {"fact": f}) for i, f in enumerate(facts))
    results = tuple(ToolResultBlock(f"c{i}", "ok", ok) for i in range(len(facts)))
    return [
        Message("user", (TextBlock("please remember"),)),
        Message("assistant", calls),
        Message("user", results),
    ]


async def test_turns_events_and_state_come_back_in_order(memory: MemoryStore) -> None:
    session = await memory.new_session("cus_a")
    first = [
        Message("user", (TextBlock("hi"),)),
        Message("assistant", (TextBlock("hello"), ToolUse("c1", "list_my_tickets", {}))),
        Message("user", (ToolResultBlock("c1", "{}", True),)),
    ]
    session.state["pending"] = {"id": "p"}
    await memory.save_turn(session, first, [{"type": "session"}, {"type": "done"}])
    second = [Message("user", (TextBlock("again"),))]
    await memory.save_turn(session, second, [{"type": "text", "delta": "x"}])
    assert await memory.messages(session) == [*first, *second]
    assert [e["type"] for e in await memory.events(session)] == ["session", "done", "text"]
    reloaded = await memory.session("cus_a", session.session_id)
    assert reloaded is not None
    assert reloaded.state == {"pending": {"id": "p"}}
    assert reloaded.created_at == session.created_at


async def test_malformed_and_unknown_session_ids_are_not_found(memory: MemoryStore) -> None:
    for session_id in ("ses_" + "a" * 26, "not-a-session", "ses_../../x", ""):
        assert await memory.session("cus_a", session_id) is None


async def test_a_session_named_by_its_caller_is_opened_once_and_only_for_its_customer(
    memory: MemoryStore,
) -> None:
    runtime_id = "0f5e2c1a-8b7d-4c3e-9a1f-2d6b8e4c7a90"
    opened = await memory.open_session("cus_a", runtime_id)
    assert opened is not None
    assert opened.session_id == runtime_id
    opened.state["step"] = 1
    await memory.save_turn(opened, turn("hello"), [{"type": "done"}])
    again = await memory.open_session("cus_a", runtime_id)
    assert again is not None
    assert (again.state, again.created_at) == ({"step": 1}, opened.created_at)
    assert await memory.messages(again) == turn("hello")
    # Another customer naming the same id never reaches the first one's turns: refused where
    # ids are shared (PostgreSQL), their own empty session where sessions are per actor.
    other = await memory.open_session("cus_b", runtime_id)
    if isinstance(memory, PostgresMemory):
        assert other is None
    else:
        assert other is not None
        assert await memory.messages(other) == []
    assert await memory.messages(again) == turn("hello")
    for malformed in ("", "-leading-dash", "has space", "x" * 101, "ses_../../x"):
        assert await memory.open_session("cus_a", malformed) is None


customers = ["a", "b", "c"]
words = st.text(alphabet="abcdefgh ", min_size=1, max_size=24).map(str.strip).filter(bool)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    owners=st.lists(st.sampled_from(customers), min_size=3, max_size=3),
    plan=st.lists(st.tuples(st.integers(0, 2), words), min_size=1, max_size=8),
)
async def test_property_3_a_session_keeps_its_own_context_and_no_one_elses(
    memory: MemoryStore, fresh: Iterator[int], owners: list[str], plan: list[tuple[int, str]]
) -> None:
    example = next(fresh)
    ids = {c: f"cus_{example}_{c}" for c in customers}
    sessions = [await memory.new_session(ids[owner]) for owner in owners]
    said: list[list[Message]] = [[], [], []]
    shown: list[list[dict[str, Any]]] = [[], [], []]
    for slot, text in plan:
        session = sessions[slot]
        session.state["last"] = text
        event = {"type": "text", "delta": text}
        await memory.save_turn(session, turn(text), [event])
        said[slot] += turn(text)
        shown[slot].append(event)
    for slot, session in enumerate(sessions):
        for customer, customer_id in ids.items():
            found = await memory.session(customer_id, session.session_id)
            if customer != owners[slot]:
                assert found is None
                continue
            assert found is not None
            assert found.state == session.state
            assert await memory.messages(found) == said[slot]
            assert await memory.events(found) == shown[slot]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    remembered=st.lists(
        st.tuples(st.sampled_from(customers), st.integers(0, 1), words), max_size=8
    ),
)
async def test_property_4_facts_come_back_in_later_sessions_of_their_customer_only(
    memory: MemoryStore, fresh: Iterator[int], remembered: list[tuple[str, int, str]]
) -> None:
    example = next(fresh)
    ids = {c: f"cus_{example}_{c}" for c in customers}
    earlier: dict[tuple[str, int], Session] = {}
    for customer, slot, fact in remembered:
        if (customer, slot) not in earlier:
            earlier[customer, slot] = await memory.new_session(ids[customer])
        await memory.save_turn(earlier[customer, slot], remembering(fact), [])
    for customer, customer_id in ids.items():
        later = await memory.new_session(customer_id)
        recalled = await memory.recall(later.customer_id, "what do I usually book")
        assert set(recalled) == {fact for who, _, fact in remembered if who == customer}
        assert len(recalled) == len(set(recalled))


async def test_only_facts_the_loop_accepted_and_none_with_a_card_are_kept(
    memory: MemoryStore,
) -> None:
    session = await memory.new_session("cus_cards")
    await memory.save_turn(session, remembering("Prefers Non-stop.", ok=False), [])
    # Straight to the store, past the loop's redaction: the store refuses on its own.
    await memory.save_turn(session, remembering(f"Pays with {CARD}."), [])
    await memory.save_turn(session, remembering("Pays with [card number removed]."), [])
    await memory.save_turn(session, remembering("Visits with two children."), [])
    assert await memory.recall("cus_cards", "card") == ["Visits with two children."]


async def test_a_store_removes_card_numbers_from_whatever_reaches_it(memory: MemoryStore) -> None:
    session = await memory.new_session("cus_paste")
    pasted = [
        Message("user", (TextBlock(f"my card {CARD}"),)),
        Message("assistant", (ToolUse("c1", "pay_upgrade", {"note": CARD}),)),
        Message("user", (ToolResultBlock("c1", f"echo {CARD}", False),)),
    ]
    await memory.save_turn(session, pasted, [{"type": "text", "delta": CARD}])
    stored = repr(await memory.messages(session)) + repr(await memory.events(session))
    assert CARD not in stored
    assert stored.count("[card number removed]") == 4


# The store through the loop: the model decides what is kept, and sees it in a later session.

FACT = "Prefers the Double Fun tier and visits with a party of four."


def customer(customer_id: str) -> Customer:
    # No MCP server is involved: the token is never sent anywhere.
    return Customer(customer_id, "unused", frozenset())


async def chat(
    memory: MemoryStore, model: ScriptedModel, who: Customer, message: str, session: Session
) -> list[dict[str, Any]]:
    concierge = Concierge(model, memory, [])
    return [event async for event in concierge.turn(who, session, message)]


def seen(check: list[ModelRequest]) -> Any:
    """A plan step that keeps the request it was given and answers with a short text."""

    def step(request: ModelRequest) -> list[Action]:
        check.append(request)
        return [Say("Welcome back.")]

    return step


async def test_a_fact_the_model_remembers_is_in_a_later_sessions_context(
    memory: MemoryStore, fresh: Iterator[int]
) -> None:
    alice, bob = customer(f"cus_{next(fresh)}_alice"), customer(f"cus_{next(fresh)}_bob")
    first = await memory.new_session(alice.customer_id)
    requests: list[ModelRequest] = []
    model = ScriptedModel(
        [[Call(REMEMBER.name, {"fact": FACT})], [Say("I'll keep that in mind.")], seen(requests)]
    )
    events = await chat(memory, model, alice, "We are four and love Double Fun.", first)
    result = next(e for e in events if e["type"] == "tool_result")
    assert (result["name"], result["ok"]) == (REMEMBER.name, True)
    assert REMEMBER.name in [tool.name for tool in model.requests[0].tools]
    assert FACT not in model.requests[0].system
    # Property 3 through the loop: the next turn of the session carries the first one.
    await chat(memory, model, alice, "And what did I say?", first)
    texts = [m.text for m in requests[0].messages]
    assert texts[0] == "We are four and love Double Fun."
    assert texts[-1] == "And what did I say?"
    assert any(isinstance(b, ToolUse) for m in requests[0].messages for b in m.blocks)

    later: list[ModelRequest] = []
    await chat(
        memory,
        ScriptedModel([seen(later)]),
        alice,
        "Hello again",
        await memory.new_session(alice.customer_id),
    )
    assert FACT in later[0].system
    assert later[0].messages[0].text == "Hello again"

    other: list[ModelRequest] = []
    await chat(
        memory,
        ScriptedModel([seen(other)]),
        bob,
        "Hello",
        await memory.new_session(bob.customer_id),
    )
    assert FACT not in other[0].system
    assert "earlier conversations" not in other[0].system


async def test_a_card_number_the_model_tries_to_remember_is_refused_and_not_kept(
    memory: MemoryStore,
) -> None:
    who = customer("cus_carded")
    session = await memory.new_session(who.customer_id)
    model = ScriptedModel(
        [[Call(REMEMBER.name, {"fact": f"Their card is {CARD}."})], [Say("I can't keep that.")]]
    )
    events = await chat(memory, model, who, "Remember my card please", session)
    result = next(e for e in events if e["type"] == "tool_result")
    assert result["ok"] is False
    assert await memory.recall(who.customer_id, "card") == []
    stored = repr(await memory.messages(session)) + repr(await memory.events(session))
    assert CARD not in stored
    assert CARD.replace(" ", "") not in stored
