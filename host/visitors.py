"""Visitors who are not signed in: they may ask about the tiers, what they include and prices
by ticket type and date, and nothing else.

Their turns run with the host's own client-credentials token, which carries
``tickets/catalogue`` only (the dev identity provider's ``host-agent`` client, a Cognito app
client in AWS), so the ticket server lists them the public tools alone and refuses any other;
the payment server is not even asked. Anything that touches a ticket is answered "please sign
in" by the toolbox. Their conversations belong to no customer and are never written to the
database: :class:`VisitorMemory` keeps them in this process, a bounded number for a while.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from servers.core.client import ClientCredentials
from servers.core.clock import utc_now
from servers.core.ids import new_id

from .loop import Customer
from .memory.base import SESSION_ID, Session
from .providers.base import Message
from .toolbox import VISITOR_SCOPES

VISITOR = "visitor"
"""The customer id of every visitor's turn: no customer of the data server has it."""
MAX_SESSIONS = 1000
IDLE_SECONDS = 1800.0
MAX_TURNS = 20
"""A visitor's session ends after this many turns (each sends the whole history to the model)."""


class HostToken:
    """The host's own access token (client credentials, ``tickets/catalogue`` only), fetched
    from the configured issuer when needed and shared by every visitor's turn."""

    def __init__(self, issuer: str, client_id: str, client_secret: str):
        self._credentials = ClientCredentials(
            issuer, client_id, client_secret, sorted(VISITOR_SCOPES)
        )
        self._http: aiohttp.ClientSession | None = None

    async def visitor(self) -> Customer:
        """Who a visitor's turn acts as: no customer, with the host's catalogue-only token."""
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10.0), trust_env=False
            )
        token = await self._credentials.token(self._http)
        return Customer(VISITOR, token, VISITOR_SCOPES)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()


@dataclass
class _Kept:
    session: Session
    messages: list[Message] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    turns: int = 0
    used: float = 0.0


@dataclass
class VisitorMemory:
    """Visitors' sessions in this process only: at most ``max_sessions`` (the least recently
    used go first), each forgotten after ``idle_seconds`` without a turn or after
    ``max_turns`` turns. A restart forgets them all; nothing of theirs reaches the database."""

    max_sessions: int = MAX_SESSIONS
    idle_seconds: float = IDLE_SECONDS
    max_turns: int = MAX_TURNS
    clock: Callable[[], float] = time.monotonic
    _kept: OrderedDict[str, _Kept] = field(default_factory=OrderedDict)

    async def new_session(self, customer_id: str) -> Session:
        return self._start(Session(new_id("ses"), customer_id, utc_now()))

    async def open_session(self, customer_id: str, session_id: str) -> Session | None:
        found = await self.session(customer_id, session_id)
        if found is None and SESSION_ID.fullmatch(session_id) and session_id not in self._kept:
            found = self._start(Session(session_id, customer_id, utc_now()))
        return found

    def _start(self, session: Session) -> Session:
        self._kept[session.session_id] = _Kept(session, used=self.clock())
        while len(self._kept) > self.max_sessions:
            self._kept.popitem(last=False)
        return session

    async def recall(self, customer_id: str, query: str) -> list[str]:
        return []  # a visitor is nobody the concierge could know again

    async def session(self, customer_id: str, session_id: str) -> Session | None:
        kept = self._find(session_id)
        if kept is None or kept.session.customer_id != customer_id:
            return None
        if kept.turns >= self.max_turns:
            return None
        return kept.session

    async def messages(self, session: Session) -> list[Message]:
        kept = self._find(session.session_id)
        return [] if kept is None else list(kept.messages)

    async def events(self, session: Session) -> list[dict[str, Any]]:
        kept = self._find(session.session_id)
        return [] if kept is None else list(kept.events)

    async def save_turn(
        self, session: Session, messages: list[Message], events: list[dict[str, Any]]
    ) -> None:
        kept = self._find(session.session_id)
        if kept is None:
            return  # forgotten while the turn ran: the visitor starts afresh next time
        kept.messages.extend(messages)
        kept.events.extend(events)
        kept.turns += 1
        kept.used = self.clock()

    def _find(self, session_id: str) -> _Kept | None:
        kept = self._kept.get(session_id)
        if kept is None:
            return None
        if self.clock() - kept.used > self.idle_seconds:
            del self._kept[session_id]
            return None
        self._kept.move_to_end(session_id)
        return kept
