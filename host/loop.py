"""One chat turn of the concierge: the model reasons, the MCP servers' tools act.

The loop is bounded (model calls per turn, wall time, a time-out on every call), a tool's error
goes back to the model as a result, and the customer sees only plain words. Card numbers are
refused before the model sees the message and removed from everything streamed or stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from servers.core.backoff import Backoff
from servers.core.logs import current_request_id

from . import events
from .choices import options_of
from .confirm import GATED, Allowed, Ask, Confirmations, Refused
from .memory import facts
from .memory.base import MemoryStore, Session
from .prompt import system_prompt
from .providers.base import (
    Assembler,
    Message,
    ModelError,
    ModelProvider,
    ModelRequest,
    Reply,
    TextBlock,
    TextDelta,
    ToolResultBlock,
    ToolUse,
    Usage,
)
from .redact import StreamRedactor, has_card_number, redact, redact_value
from .toolbox import Connect, McpServer, Toolbox, ToolOutcome, http_client

log = logging.getLogger(__name__)

CARD_REFUSAL = (
    "For your safety I can't take card numbers in this chat, and I have not kept the one you "
    "typed. Please pay with a card saved in your account or on the secure payment page."
)


@dataclass(frozen=True)
class Customer:
    """Who is chatting, and the access token the servers are called with on their behalf."""

    customer_id: str
    token: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class Limits:
    max_steps: int = 8
    max_tool_calls: int = 24
    """Tool calls per turn, however many one model answer asks for at once."""
    turn_timeout_seconds: float = 90.0
    tool_timeout_seconds: float = 20.0
    model_retries: int = 3


class _TimeUp(Exception):
    pass


@dataclass
class Concierge:
    provider: ModelProvider
    memory: MemoryStore
    servers: Sequence[McpServer]
    limits: Limits = field(default_factory=Limits)
    backoff: Backoff = field(default_factory=lambda: Backoff(0.5, 8.0))
    connect: Connect = http_client
    clock: Callable[[], float] = time.monotonic
    # Whether the model may keep facts about the customer (host.memory.facts); not for visitors,
    # whom the concierge can never recognise again.
    remembers: bool = True

    async def turn(
        self,
        customer: Customer,
        session: Session,
        message: str,
        context: dict[str, Any] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one turn, ``session`` first and ``done`` last; the turn is stored."""
        shown: list[dict[str, Any]] = []
        said: list[Message] = []
        usage = Usage()

        def show(event: dict[str, Any]) -> dict[str, Any]:
            shown.append(event)
            return event

        yield show(events.session(session.session_id))
        if has_card_number(message) or has_card_number(repr(context)):
            said.append(Message("user", (TextBlock(redact(message)),)))
            yield show(events.error(events.CARD_NUMBER_REFUSED, CARD_REFUSAL))
        else:
            confirmations = Confirmations(session.state)
            opening, notes = self._opening(confirmations, message, context)
            for note in notes:
                yield show(note)
            said.append(opening)
            try:
                async for event in self._run(customer, session, confirmations, said, usage):
                    yield show(event)
            except Exception:
                log.exception("chat turn failed (request id %s)", current_request_id())
                yield show(
                    events.error(
                        events.UNEXPECTED,
                        "Something went wrong on our side; please try again in a moment.",
                    )
                )
        # The turn's cost is kept with its events (host.events, or AgentCore Memory's) and
        # logged, so usage per turn and per session can be totalled without another store.
        finished = show(events.done(usage.as_json()))
        log.info(
            "turn finished (session %s): %d model calls, %d input, %d output tokens",
            session.session_id,
            usage.model_calls,
            usage.input_tokens,
            usage.output_tokens,
        )
        await self.memory.save_turn(session, said, shown)
        yield finished

    def _opening(
        self, confirmations: Confirmations, message: str, context: dict[str, Any] | None
    ) -> tuple[Message, list[dict[str, Any]]]:
        """The customer's message for the model, with their answer to a confirmation (given
        by the UI, not read from the words) and the ticket in view, if any."""
        parts = [message] if message else []
        notes: list[dict[str, Any]] = []
        context = context or {}
        answer = context.get("confirmation")
        if isinstance(answer, dict) and isinstance(answer.get("id"), str):
            yes = answer.get("answer") == "yes"
            proposal = confirmations.answer(answer["id"], yes)
            if proposal is None:
                notes.append(
                    events.error(
                        events.CONFIRMATION_CLOSED,
                        "That confirmation is no longer open; nothing was booked or charged.",
                    )
                )
            else:
                verdict = "confirmed" if yes else "declined"
                parts.append(f"[The customer {verdict}: {proposal.describe()}.]")
        ticket = context.get("ticket_number")
        if isinstance(ticket, str) and len(ticket) <= 40:
            parts.append(f"[The customer is looking at ticket {ticket}.]")
        return Message("user", (TextBlock("\n".join(parts)),)), notes

    async def _run(
        self,
        customer: Customer,
        session: Session,
        confirmations: Confirmations,
        said: list[Message],
        usage: Usage,
    ) -> AsyncIterator[dict[str, Any]]:
        used = 0  # tool calls so far in this turn
        deadline = self.clock() + self.limits.turn_timeout_seconds
        history = await self.memory.messages(session)
        remembered = await self.memory.recall(session.customer_id, said[0].text)
        toolbox = Toolbox(
            self.servers,
            customer.token,
            customer.scopes,
            self.limits.tool_timeout_seconds,
            connect=self.connect,
        )
        async with toolbox:
            system = system_prompt(toolbox.context, remembered)
            for _step in range(self.limits.max_steps):
                if self.clock() >= deadline:
                    yield _time_up()
                    return
                own = (facts.REMEMBER,) if self.remembers else ()
                request = ModelRequest(system, (*history, *said), (*toolbox.tools, *own))
                reply = Reply()
                try:
                    async for event in self._model(request, deadline, reply):
                        yield event
                    usage.add(reply)
                except _TimeUp:
                    yield _time_up()
                    return
                except ModelError:
                    log.warning("model call failed", exc_info=True)
                    yield events.error(
                        events.MODEL_UNAVAILABLE,
                        "The assistant is not available right now; please try again shortly.",
                    )
                    return
                blocks: list[TextBlock | ToolUse] = []
                if reply.text:
                    blocks.append(TextBlock(redact(reply.text)))
                # Checked before redacting, which would hide the card number from the check.
                carded = {c.id for c in reply.calls if has_card_number(repr(c.arguments))}
                calls = [ToolUse(c.id, c.name, redact_value(c.arguments)) for c in reply.calls]
                said.append(Message("assistant", (*blocks, *calls)))
                if not calls:
                    return
                results: list[ToolResultBlock] = []
                for call in calls:
                    yield events.tool_call(call.id, call.name, _visible(call.arguments))
                    used += 1
                    if used > self.limits.max_tool_calls:
                        outcome, extra = _over_budget(self.limits.max_tool_calls)
                    else:
                        outcome, extra = await self._tool(
                            toolbox,
                            confirmations,
                            call,
                            deadline,
                            session.session_id,
                            call.id in carded,
                        )
                    yield events.tool_result(
                        call.id,
                        call.name,
                        outcome.ok,
                        events.for_customer(outcome.ok, outcome.text, outcome.data),
                    )
                    told = events.for_model(outcome.ok, outcome.text, outcome.data)
                    if not outcome.ok and events.is_ticket_reference_error(outcome.text):
                        mine = await _own_tickets(toolbox, deadline, self.clock)
                        if mine is not None:
                            told = f"{told}\nThe customer's own tickets: {mine.text}"
                            offered = options_of(mine.data)
                            if offered is not None:
                                extra.append(offered)
                    for event in extra:
                        yield event
                    results.append(ToolResultBlock(call.id, told, outcome.ok))
                said.append(Message("user", tuple(results)))
            yield events.error(
                events.STEP_LIMIT,
                "I couldn't finish that in one go. Tell me how you'd like to continue.",
            )

    async def _model(
        self, request: ModelRequest, deadline: float, reply: Reply
    ) -> AsyncIterator[dict[str, Any]]:
        """Streams one model answer's text as events and fills ``reply``; a throttled call
        that has streamed nothing yet is retried with backoff."""
        attempt = 0
        while True:
            assembler = Assembler()
            visible = StreamRedactor()
            streamed = False
            try:
                stream = self.provider.stream(request).__aiter__()
                while True:
                    remaining = deadline - self.clock()
                    if remaining <= 0:
                        raise _TimeUp
                    try:
                        event = await asyncio.wait_for(stream.__anext__(), remaining)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise _TimeUp from None
                    assembler.add(event)
                    if isinstance(event, TextDelta):
                        streamed = True
                        piece = visible.feed(event.text)
                        if piece:
                            yield events.text(piece)
            except ModelError as exc:
                attempt += 1
                if not exc.throttled or streamed or attempt > self.limits.model_retries:
                    raise
                pause = self.backoff.delay(attempt).total_seconds()
                if self.clock() + pause >= deadline:
                    raise _TimeUp from exc
                await asyncio.sleep(pause)
                continue
            rest = visible.flush()
            if rest:
                yield events.text(rest)
            finished = assembler.finish()
            reply.text, reply.calls = finished.text, finished.calls
            reply.input_tokens, reply.output_tokens = finished.input_tokens, finished.output_tokens
            reply.stop_reason = finished.stop_reason
            log.info(
                "model answered (%s): %d input, %d output tokens",
                reply.stop_reason,
                reply.input_tokens,
                reply.output_tokens,
            )
            return

    async def _tool(
        self,
        toolbox: Toolbox,
        confirmations: Confirmations,
        call: ToolUse,
        deadline: float,
        session_id: str,
        carries_card: bool,
    ) -> tuple[ToolOutcome, list[dict[str, Any]]]:
        if self.clock() >= deadline:
            return ToolOutcome(False, {}, "TIME_LIMIT: no time left in this turn"), []
        if "_malformed" in call.arguments:
            return ToolOutcome(False, {}, "INVALID_ARGUMENT: the arguments were not JSON"), []
        if carries_card:
            return (
                ToolOutcome(False, {}, "CARD_NUMBER_REFUSED: card numbers never go through chat"),
                [],
            )
        if call.name == facts.REMEMBER.name and self.remembers:
            return facts.answer(call.arguments), []
        arguments = dict(call.arguments)
        extra: list[dict[str, Any]] = []
        approved = None
        if call.name in GATED and toolbox.has(call.name):
            decision = await confirmations.decide(toolbox, call.name, arguments)
            if isinstance(decision, Refused):
                return decision.outcome, []
            if isinstance(decision, Ask):
                if decision.new:
                    extra.append(decision.proposal.options_event())
                return (
                    ToolOutcome(
                        False,
                        {},
                        "CONFIRMATION_REQUIRED: the customer is being asked to confirm "
                        f"'{decision.proposal.describe()}'. Wait for their answer; this runs "
                        "once they say yes.",
                    ),
                    extra,
                )
            assert isinstance(decision, Allowed)
            arguments["idempotency_key"] = decision.idempotency_key
            approved = decision.proposal
        elif toolbox.takes_key(call.name):
            arguments["idempotency_key"] = _derived_key(session_id, call.name, arguments)
        outcome = await toolbox.call(call.name, arguments)
        if outcome.ok and call.name in GATED:
            if approved is not None:
                confirmations.done(approved, outcome.data.get("order", outcome.data))
            required = events.payment_required(outcome.data)
            if required is not None:
                extra.append(required)
        elif outcome.ok:
            offered = options_of(outcome.data)
            if offered is not None:
                extra.append(offered)
        return outcome, extra


def _visible(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if k != "idempotency_key"}


def _derived_key(session_id: str, name: str, arguments: dict[str, Any]) -> str:
    """The same action asked again in a session replays its first answer, as the servers'
    idempotency keys promise, instead of being carried out twice."""
    canonical = json.dumps([session_id, name, arguments], sort_keys=True, default=str)
    return f"host-{hashlib.sha256(canonical.encode()).hexdigest()[:40]}"


OWN_TICKETS = "list_my_tickets"


async def _own_tickets(
    toolbox: Toolbox, deadline: float, clock: Callable[[], float]
) -> ToolOutcome | None:
    """The customer's own tickets, which the host adds when a ticket reference matched none:
    "I can't find that ticket" comes with the tickets they do have."""
    if not toolbox.has(OWN_TICKETS) or clock() >= deadline:
        return None
    mine = await toolbox.call(OWN_TICKETS, {})
    return mine if mine.ok else None


def _over_budget(limit: int) -> tuple[ToolOutcome, list[dict[str, Any]]]:
    told = (
        f"TOOL_LIMIT: this turn has used its {limit} tool calls; this one did not run. Answer "
        "the customer with what you have."
    )
    return ToolOutcome(False, {}, told), []


def _time_up() -> dict[str, Any]:
    return events.error(
        events.TIME_LIMIT, "That took longer than I'm allowed; please ask again in a moment."
    )
