"""The supervisor's back-off, with stand-in members whose deaths the test decides."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from ticketing.procs import Supervisor, free_port, listeners


@dataclass
class Member:
    name: str
    up: bool = True
    starts: int = 0
    refuse_starts: int = 0

    def running(self) -> bool:
        return self.up

    def start(self) -> None:
        if self.refuse_starts:
            self.refuse_starts -= 1
            raise RuntimeError("port still held")
        self.starts += 1
        self.up = True


def test_a_dead_member_is_restarted_after_a_back_off_that_doubles_while_it_keeps_dying() -> None:
    said: list[str] = []
    member, bystander = Member("data server"), Member("ticket server")
    supervisor = Supervisor([member, bystander], say=said.append, base=1, ceiling=4, stable=100)

    member.up = False
    supervisor.check(now=10)
    assert said == ["==> The data server stopped; restarting it in 1 s"]
    supervisor.check(now=10.9)
    assert member.starts == 0
    supervisor.check(now=11)
    assert member.starts == 1
    assert said[-1] == "    the data server restarted"

    delays = []
    for _ in range(4):
        member.up = False
        supervisor.check(now=12)
        delays.append(said[-1].rsplit(" in ", 1)[1])
        supervisor.check(now=30)
    assert delays == ["2 s", "4 s", "4 s", "4 s"]
    assert bystander.starts == 0, "the others are left alone"


def test_a_member_up_for_the_stable_time_starts_again_from_the_shortest_back_off() -> None:
    said: list[str] = []
    member = Member("notify server")
    supervisor = Supervisor([member], say=said.append, base=1, ceiling=8, stable=50)
    for now in (0, 5):
        member.up = False
        supervisor.check(now=now)
        supervisor.check(now=now + 4)
    assert said[-2].endswith("restarting it in 2 s")
    supervisor.check(now=200)  # up since the last restart for longer than ``stable``
    member.up = False
    supervisor.check(now=201)
    assert said[-1].endswith("restarting it in 1 s")


def test_a_failed_start_is_said_and_tried_again_later() -> None:
    said: list[str] = []
    member = Member("PostgreSQL server", up=False, refuse_starts=1)
    supervisor = Supervisor([member], say=said.append, base=1, ceiling=8, stable=50)
    supervisor.check(now=0)
    supervisor.check(now=1)
    assert member.starts == 0
    assert said[-1].startswith("    the PostgreSQL server did not start (port still held)")
    supervisor.check(now=1.5)
    assert member.starts == 0
    supervisor.check(now=1e9)
    assert member.starts == 1
    assert member.running()


def test_the_process_listening_on_a_port_is_named() -> None:
    port = free_port()
    assert listeners(port) == []
    with socket.create_server(("127.0.0.1", port)):
        [holder] = listeners(port)
    assert holder.startswith(f"pid {os.getpid()} (")
    assert "pytest" in holder or "python" in holder
