"""The help tools and resources of the ticket server, added to it by ``register_help_tools``."""

from __future__ import annotations

import json
from typing import Annotated

from fastmcp import FastMCP
from fastmcp.resources.types import TextResource
from mcp_types import ToolAnnotations
from pydantic import Field

from servers.core.app import READ_ONLY, requires
from servers.core.auth import current_caller
from servers.core.scopes import TICKETS_CATALOGUE, TICKETS_READ, TICKETS_WRITE
from servers.core.types import IdempotencyKey, StrictInt

from ..models import OrderId, TicketRef
from ..service import Caller
from .desk import HelpDesk
from .models import HelpAnswer, HelpQuery, PreferredContact, Summary, SupportRequest

INDEX_URI = "help://topics"
MAX_RESULTS = 10
# Opens a case and sends e-mails out of the system: an open world, retry-safe through its key.
HANDS_OFF = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=True
)


def register_help_tools(mcp: FastMCP, desk: HelpDesk) -> None:
    library = desk.library
    for topic in library.topics:
        mcp.add_resource(
            TextResource(
                uri=topic.uri,
                name=topic.uri.removeprefix("help://").replace("/", "_").replace("-", "_"),
                title=topic.title,
                description=f"{topic.title} (venue help texts, version {library.version}).",
                mime_type="text/markdown",
                text=topic.markdown,
            )
        )
    mcp.add_resource(
        TextResource(
            uri=INDEX_URI,
            name="help_topics",
            title="Help topics",
            description="Every help topic with its resource URI, and the texts' version.",
            mime_type="application/json",
            text=json.dumps(
                {
                    "version": library.version,
                    "topics": [{"uri": t.uri, "title": t.title} for t in library.topics],
                }
            ),
        )
    )

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_CATALOGUE, TICKETS_READ))
    async def search_help(
        query: Annotated[
            HelpQuery, Field(description="The customer's question or a few words of it.")
        ],
        limit: Annotated[
            StrictInt, Field(ge=1, le=MAX_RESULTS, description="At most this many topics.")
        ] = 3,
    ) -> HelpAnswer:
        """Search the venue's help texts (opening hours, tiers, the upgrade, change and refund
        policies, paying safely, accessibility, contact): the best-matching topics with a
        snippet and the resource to read in full."""
        return desk.search(query, limit)

    @mcp.tool(annotations=HANDS_OFF, meta=requires(TICKETS_WRITE))
    async def request_human_help(
        summary: Annotated[
            Summary,
            Field(description="What the customer needs, in their words (10-2000 characters)."),
        ],
        preferred_contact: Annotated[
            PreferredContact,
            Field(
                description="'email' to be answered at the customer's address on file, or a "
                "phone number to be called on, e.g. +1 555 0100."
            ),
        ],
        idempotency_key: Annotated[
            IdempotencyKey,
            Field(
                description="A unique key per request (8-128 of A-Z a-z 0-9 _ . : -); retrying "
                "with the same key returns the same case and sends no second e-mail."
            ),
        ],
        ticket_number: Annotated[
            TicketRef | None,
            Field(description="The ticket it is about, if any (TKT-JD0001, or as written)."),
        ] = None,
        order_id: Annotated[
            OrderId | None, Field(description="The upgrade order it is about, if any.")
        ] = None,
    ) -> SupportRequest:
        """Hand the customer's question to a person: opens a support case with a reference to
        quote, e-mails the support team and the customer, and says by when someone will answer.
        Use it when the help texts and the other tools cannot resolve the request."""
        return await desk.request_human_help(
            # A customer's own tool: no customer_id; any other token is no customer's.
            Caller(customer_id=current_caller().customer_id),
            summary=summary,
            preferred_contact=preferred_contact,
            ticket_number=ticket_number,
            order_id=order_id,
            idempotency_key=idempotency_key,
        )
