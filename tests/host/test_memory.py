"""The PostgreSQL memory store on a real database: a session belongs to one customer (another
customer's id answers like an unknown one), and turns come back in order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host.memory.postgres import PostgresMemory
from host.providers.base import Message, TextBlock, ToolResultBlock, ToolUse
from servers.core.db.postgres import PostgresDatabase


@pytest.fixture
async def memory(database_url: str) -> AsyncIterator[PostgresMemory]:
    db = await PostgresDatabase(database_url, min_size=1, max_size=2).open()
    try:
        yield PostgresMemory(db)
    finally:
        await db.close()


async def test_turns_events_and_state_come_back_in_order(memory: PostgresMemory) -> None:
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


customers = st.sampled_from(["cus_a", "cus_b", "cus_c"])


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(owners=st.lists(customers, min_size=1, max_size=4), asker=customers)
async def test_a_session_is_found_only_by_its_customer(
    memory: PostgresMemory, owners: list[str], asker: str
) -> None:
    sessions = [await memory.new_session(owner) for owner in owners]
    for session in sessions:
        found = await memory.session(asker, session.session_id)
        if asker == session.customer_id:
            assert found is not None
            assert found.session_id == session.session_id
        else:
            assert found is None
    assert await memory.session(asker, "ses_" + "a" * 26) is None
