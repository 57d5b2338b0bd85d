"""Amazon Bedrock AgentCore Runtime's HTTP contract for agents, on the host's own port:
``POST /invocations`` streams the chat's events as server-sent events and ``GET /ping`` says
``Healthy`` (or ``HealthyBusy`` while a turn runs).

Why not ``BedrockAgentCoreApp`` itself: it runs every async handler on a second event loop in
another thread (so that ``/ping`` answers while a handler blocks), but the host's database pool,
token verifier and MCP clients belong to the server's own loop and cannot be used from another;
and it answers a failing handler with ``str(e)`` in a 500 or in the stream. So its contract is
served here with its own names for the headers and statuses (tests/host/test_entry.py holds the
two side by side): the session id comes from ``X-Amzn-Bedrock-AgentCore-Runtime-Session-Id``,
the payload is JSON (``prompt`` or ``message``, optional ``context`` and ``session_id``) and
every failure is answered with a code and plain words, never internals.

Auth: in AWS, the runtime's JWT authorizer has already validated the customer's token against
Cognito, and passes the ``Authorization`` header through; the host verifies it again as
``/api/chat`` does (scope ``concierge/chat``), because the loop forwards that very token to the
MCP servers. No ``Authorization`` header is a visitor, as on ``/api/chat``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Self

from bedrock_agentcore.runtime.models import SESSION_HEADER, PingStatus
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from servers.core.app import describe_validation

from .access import Gate, Refusal, guarded, json_error
from .chats import ChatRefused, Chats
from .sse import sse_response

INVOCATIONS_PATH = "/invocations"
PING_PATH = "/ping"
MAX_MESSAGE_CHARS = 4000
MAX_SESSION_HEADER_CHARS = 256  # AgentCore's runtimeSessionId is 33 to 256 characters


class Invocation(BaseModel):
    """An invocation's payload: the customer's words as ``prompt`` (what AgentCore's console
    and examples send) or ``message`` (as ``/api/chat`` takes it)."""

    model_config = ConfigDict(extra="forbid")

    prompt: Annotated[str | None, Field(max_length=MAX_MESSAGE_CHARS)] = None
    message: Annotated[str | None, Field(max_length=MAX_MESSAGE_CHARS)] = None
    session_id: Annotated[str | None, Field(max_length=64)] = None
    context: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_text(self) -> Self:
        if (self.prompt is None) == (self.message is None):
            raise ValueError("give the customer's words as either prompt or message")
        return self

    @property
    def text(self) -> str:
        return self.prompt if self.prompt is not None else self.message or ""


@dataclass
class AgentCoreEntry:
    chats: Chats
    gate: Gate
    clock: Callable[[], float] = time.time
    busy: int = 0
    changed_at: float = field(default_factory=time.time)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(INVOCATIONS_PATH, guarded(self.invoke), methods=["POST"]),
            Route(PING_PATH, self.ping, methods=["GET"]),
        ]

    async def ping(self, request: Request) -> Response:
        status = PingStatus.HEALTHY_BUSY if self.busy else PingStatus.HEALTHY
        return JSONResponse({"status": status.value, "time_of_last_update": int(self.changed_at)})

    async def invoke(self, request: Request) -> Response:
        try:
            customer = await self.gate.caller(request)
        except Refusal as refusal:
            return refusal.response
        try:
            payload = Invocation.model_validate_json(await request.body())
        except ValidationError as exc:
            return json_error(400, "invalid_request", describe_validation(exc))
        outside = request.headers.get(SESSION_HEADER) or None
        if outside is not None and len(outside) > MAX_SESSION_HEADER_CHARS:
            return json_error(400, "invalid_request", f"{SESSION_HEADER} is too long.")
        try:
            stream = await self.chats.turn(
                customer,
                payload.text,
                # A session id of ours in the payload wins: the runtime's header then only
                # routes the call to a microVM.
                session_id=payload.session_id,
                outside_session=outside,
                context=payload.context,
            )
        except ChatRefused as refused:
            return self.gate.refused(refused)
        return sse_response(self._counted(stream))

    async def _counted(
        self, stream: AsyncIterator[dict[str, Any]]
    ) -> AsyncIterator[dict[str, Any]]:
        """The stream, counted as work in progress for ``/ping`` while it runs."""
        self._busy(+1)
        try:
            async for event in stream:
                yield event
        finally:
            self._busy(-1)

    def _busy(self, step: int) -> None:
        before = bool(self.busy)
        self.busy += step
        if before != bool(self.busy):
            self.changed_at = self.clock()
