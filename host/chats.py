"""What every entry point of the host does with a chat turn, whatever its wire: the chat API
(``/api/chat``), AgentCore's ``/invocations`` and the ``ask_concierge`` MCP tool.

A signed-in customer's turn runs with their own token over the ticket and payment servers and
is stored under them; a visitor's (no token) runs with the host's own catalogue-only token over
the ticket server's public tools, kept in this process only (:mod:`host.visitors`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastmcp.server.auth import AccessToken

from servers.core.auth import Principal
from servers.core.errors import UNAVAILABLE, DomainError
from servers.core.logs import current_request_id

from . import events
from .loop import Concierge, Customer
from .memory.base import MemoryStore, Session
from .settings import MODEL_SETTINGS
from .visitors import HostToken

log = logging.getLogger(__name__)

NO_MODEL = "NO_MODEL"
SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
SIGN_IN_REQUIRED = "SIGN_IN_REQUIRED"
NOT_A_CUSTOMER = "NOT_A_CUSTOMER"

NO_MODEL_MESSAGE = (
    "No language model is configured for the concierge; set "
    + ", ".join(MODEL_SETTINGS)
    + ". Every structured flow (the MCP servers' tools) works without one."
)
TROUBLE = "Something went wrong on our side; please try again in a moment."


class ChatRefused(DomainError):
    """A turn that cannot start: no model, an unknown session, no way to serve a visitor."""


def customer_from(access: AccessToken, token: str) -> Customer:
    """The customer a verified access token acts for; a service's own token is no customer's."""
    claims = access.claims
    customer_id = Principal(str(claims.get("client_id")), claims.get("sub")).customer_id
    if customer_id is None:
        raise ChatRefused(NOT_A_CUSTOMER, "The concierge answers customers' tokens.")
    return Customer(customer_id, token, frozenset(access.scopes))


def runtime_session_id(customer_id: str, outside: str) -> str:
    """Our session id for an outside one (AgentCore's runtime session id, 33 to 256 characters
    of the caller's choosing): derived from the customer too, so two customers who chose the same
    outside id never meet, and in the ``ses_`` shape the store checks."""
    digest = hashlib.sha256(f"{customer_id}\0{outside}".encode()).digest()
    return "ses_" + base64.b32encode(digest).decode().lower()[:26]


@dataclass
class Visitors:
    """How visitors are served: their own concierge (over :class:`~host.visitors.VisitorMemory`
    and the ticket server) and the host's token."""

    concierge: Concierge
    token: HostToken


@dataclass
class Chats:
    memory: MemoryStore
    concierge: Concierge | None
    visitors: Visitors | None = None

    async def turn(
        self,
        customer: Customer | None,
        message: str,
        *,
        session_id: str | None = None,
        outside_session: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one turn of ``customer`` (None: a visitor). Raises
        :class:`ChatRefused` before the first event when the turn cannot start; afterwards
        any failure ends the stream with an ``error`` event and ``done``, never an exception."""
        concierge, customer, memory = await self._who(customer)
        session = await self._session(memory, customer, session_id, outside_session)
        return _guarded(concierge.turn(customer, session, message, context))

    async def _who(self, customer: Customer | None) -> tuple[Concierge, Customer, MemoryStore]:
        if self.concierge is None:
            raise ChatRefused(NO_MODEL, NO_MODEL_MESSAGE)
        if customer is not None:
            return self.concierge, customer, self.memory
        if self.visitors is None:
            raise ChatRefused(SIGN_IN_REQUIRED, "Sign in to chat with the concierge.")
        try:
            visitor = await self.visitors.token.visitor()
        except Exception:
            log.warning("the host's own token could not be fetched", exc_info=True)
            raise ChatRefused(
                UNAVAILABLE, "The concierge cannot answer visitors right now; try again soon."
            ) from None
        return self.visitors.concierge, visitor, self.visitors.concierge.memory

    async def _session(
        self,
        memory: MemoryStore,
        customer: Customer,
        session_id: str | None,
        outside: str | None,
    ) -> Session:
        if session_id is None and outside is not None:
            opened = await memory.open_session(
                customer.customer_id, runtime_session_id(customer.customer_id, outside)
            )
            if opened is None:
                raise ChatRefused(SESSION_NOT_FOUND, "There is no such session.")
            return opened
        if session_id is None:
            return await memory.new_session(customer.customer_id)
        found = await memory.session(customer.customer_id, session_id)
        if found is None:
            raise ChatRefused(SESSION_NOT_FOUND, "There is no such session.")
        return found


async def _guarded(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """The loop answers its own failures; this catches what it cannot (storing the turn): the
    stream still ends in ``error`` and ``done``, with no internals in it."""
    finished = False
    try:
        async for event in stream:
            finished = event.get("type") == "done"
            yield event
    except Exception:
        log.exception("chat stream failed (request id %s)", current_request_id())
        if not finished:
            yield events.error(events.UNEXPECTED, TROUBLE)
            yield events.done()
