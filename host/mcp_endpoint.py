"""``/mcp`` on the host: the concierge itself as one MCP tool, ``ask_concierge``, for assistants
that would rather delegate the upgrade than drive the ticket server's tools themselves.

Built like every MCP server of the project (``servers.core``): FastMCP, stateless streamable
HTTP with JSON answers, the resource server's auth (resource ``concierge``, scope
``concierge/chat``), and the kit's error mapping. One call is one chat turn with the caller's own
token, forwarded to the ticket and payment servers exactly as ``/api/chat`` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastmcp.server.dependencies import get_access_token
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from servers.core.app import HealthCheck, KitMCP, build_http_app, create_mcp, requires
from servers.core.errors import NOT_ALLOWED, DomainError
from servers.core.resource_metadata import MCP_PATH, resource_metadata_url
from servers.core.scopes import CONCIERGE_CHAT

from .chats import Chats, customer_from
from .settings import HostSettings

RESOURCE = "concierge"
MAX_MESSAGE_CHARS = 4000

INSTRUCTIONS = """\
The venue's concierge as a tool: ask_concierge runs one turn of a conversation about the \
customer's tickets and upgrades (the three tiers Standard, Non-stop and Double Fun, dates and \
prices, holding a date, paying, changing or cancelling) with the customer's own access. Pass \
the session_id of the previous answer to go on with the same conversation. Before booking or \
paying, the answer lists options with a confirmation: ask the customer, then call again with \
confirmation set to their answer. Never send card numbers: payment happens on the payment \
server's page or with a saved card."""

ASKS = ToolAnnotations(
    readOnlyHint=False, destructiveHint=True, idempotentHint=False, openWorldHint=True
)
"""A turn may book, pay, change or cancel (after the customer's confirmation), and asks a
language model: honest hints say so."""


class Confirmation(BaseModel):
    id: Annotated[str, Field(max_length=64, description="The confirmation's id, from options.")]
    answer: Annotated[Literal["yes", "no"], Field(description="The customer's answer.")]


class ConciergeAnswer(BaseModel):
    session_id: Annotated[str, Field(description="Pass it back to continue this conversation.")]
    text: Annotated[str, Field(description="What the concierge said.")]
    options: Annotated[
        list[dict[str, Any]],
        Field(description="Choices to offer the customer, and confirmations to ask them."),
    ]
    payment_required: Annotated[
        dict[str, Any] | None,
        Field(description="An order awaiting payment: id, amount, currency, hold expiry."),
    ]
    errors: Annotated[
        list[dict[str, Any]],
        Field(description="What went wrong in the turn, each with a code and plain words."),
    ]


def build_concierge_mcp(chats: Chats) -> KitMCP:
    mcp = create_mcp(RESOURCE, instructions=INSTRUCTIONS)

    @mcp.tool(annotations=ASKS, meta=requires(CONCIERGE_CHAT))
    async def ask_concierge(
        message: Annotated[
            str,
            Field(
                max_length=MAX_MESSAGE_CHARS,
                description="The customer's words, as they would type them in a chat.",
            ),
        ],
        session_id: Annotated[
            str | None,
            Field(
                max_length=64,
                description="The session_id of an earlier answer to continue; none starts anew.",
            ),
        ] = None,
        confirmation: Annotated[
            Confirmation | None,
            Field(description="The customer's yes or no to a confirmation the options asked."),
        ] = None,
    ) -> ConciergeAnswer:
        """Ask the venue's concierge, as the customer: one turn of a conversation about their
        tickets and upgrades. Answers what it said and did, options to offer, and an order
        awaiting payment."""
        access = get_access_token()
        if access is None:
            raise DomainError(NOT_ALLOWED, "this call carries no access token")
        context = None if confirmation is None else {"confirmation": confirmation.model_dump()}
        stream = await chats.turn(
            customer_from(access, access.token), message, session_id=session_id, context=context
        )
        return await collect(stream)

    return mcp


async def collect(stream: AsyncIterator[dict[str, Any]]) -> ConciergeAnswer:
    """A turn's events as one answer."""
    session_id, texts = "", []
    options: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    payment = None
    async for event in stream:
        kind = event["type"]
        if kind == "session":
            session_id = event["session_id"]
        elif kind == "text":
            texts.append(event["delta"])
        elif kind == "options":
            options.append({k: v for k, v in event.items() if k != "type"})
        elif kind == "payment_required":
            payment = {k: v for k, v in event.items() if k != "type"}
        elif kind == "error":
            errors.append({"code": event["code"], "message": event["message"]})
    return ConciergeAnswer(
        session_id=session_id,
        text="".join(texts),
        options=options,
        payment_required=payment,
        errors=errors,
    )


async def build_mcp_endpoint(chats: Chats, settings: HostSettings, health: HealthCheck) -> ASGIApp:
    """The ASGI app of ``/mcp`` (and its RFC 9728 metadata), to serve :func:`beside` the rest."""
    return await build_http_app(
        build_concierge_mcp(chats),
        settings,
        resource=RESOURCE,
        scopes=(CONCIERGE_CHAT,),
        health=health,
    )


def beside(mcp: ASGIApp, rest: ASGIApp) -> ASGIApp:
    """One app: ``/mcp`` and its metadata go to ``mcp``, which also gets the lifespan (its
    session manager runs there; the rest needs none), every other request to ``rest``."""
    paths = {MCP_PATH, resource_metadata_url("", MCP_PATH)}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (
            scope["type"] == "http" and scope["path"].rstrip("/") in paths
        ):
            await mcp(scope, receive, send)
        else:
            await rest(scope, receive, send)

    return app
