"""Visitors' sessions (host/visitors.py): kept in the process, bounded in number, forgotten
when idle or long, and never another customer's. A stepped clock, no sleeps."""

from __future__ import annotations

from host.providers.base import Message, TextBlock
from host.visitors import VISITOR, VisitorMemory


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def said(text: str) -> list[Message]:
    return [Message("user", (TextBlock(text),))]


async def test_a_session_keeps_its_turns_and_is_nobody_elses() -> None:
    memory = VisitorMemory()
    session = await memory.new_session(VISITOR)
    await memory.save_turn(session, said("prices?"), [{"type": "done"}])
    found = await memory.session(VISITOR, session.session_id)
    assert found is session
    assert [m.text for m in await memory.messages(session)] == ["prices?"]
    assert await memory.events(session) == [{"type": "done"}]
    assert await memory.session("cus_someone", session.session_id) is None
    assert await memory.session(VISITOR, "ses_" + "a" * 26) is None


async def test_the_least_recently_used_go_first() -> None:
    memory = VisitorMemory(max_sessions=2)
    first = await memory.new_session(VISITOR)
    second = await memory.new_session(VISITOR)
    assert await memory.session(VISITOR, first.session_id) is first  # used: now the newest
    await memory.new_session(VISITOR)
    assert await memory.session(VISITOR, second.session_id) is None
    assert await memory.session(VISITOR, first.session_id) is first


async def test_idle_and_long_sessions_are_forgotten() -> None:
    clock = Clock()
    memory = VisitorMemory(idle_seconds=60, max_turns=2, clock=clock)
    idle = await memory.new_session(VISITOR)
    clock.now = 61
    assert await memory.session(VISITOR, idle.session_id) is None
    long = await memory.new_session(VISITOR)
    for turn in range(2):
        assert await memory.session(VISITOR, long.session_id) is long
        await memory.save_turn(long, said(f"turn {turn}"), [])
    assert await memory.session(VISITOR, long.session_id) is None


async def test_a_named_session_is_created_once() -> None:
    memory = VisitorMemory()
    derived = "ses_" + "c" * 26
    made = await memory.open_session(VISITOR, derived)
    assert made is not None
    await memory.save_turn(made, said("hello"), [])
    again = await memory.open_session(VISITOR, derived)
    assert again is not None
    assert again.session_id == derived
    assert [m.text for m in await memory.messages(again)] == ["hello"]
    assert await memory.open_session("someone-else", derived) is None
    assert await memory.open_session(VISITOR, "not a session id!") is None
