"""The data server's support-case tools: services open cases for customers, ops list and close
them (``data/*`` scopes, which only our service clients hold)."""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from servers.core.app import CREATES, READ_ONLY, UPDATES, requires
from servers.core.auth import current_caller
from servers.core.scopes import DATA_READ, DATA_WRITE
from servers.core.types import IdempotencyKey, StrictInt

from .cases import (
    MAX_CASES,
    CaseReference,
    CaseStatus,
    CaseText,
    PreferredContact,
    SupportCase,
    SupportCaseList,
    SupportCases,
)
from .models import CustomerId, OrderId, TicketNumber

_REFERENCE = Field(description="Support case reference, SUP-XXXXXXXX.")


def register_support_case_tools(mcp: FastMCP, cases: SupportCases) -> None:
    @mcp.tool(annotations=CREATES, meta=requires(DATA_WRITE))
    async def open_support_case(
        customer_id: Annotated[CustomerId, Field(description="The customer asking, cus_...")],
        summary: Annotated[CaseText, Field(description="What the customer needs, their words.")],
        preferred_contact: Annotated[
            PreferredContact,
            Field(description="'email' (the address on file) or a phone number to call."),
        ],
        idempotency_key: Annotated[
            IdempotencyKey,
            Field(description="A unique key per request; a retry returns the first case."),
        ],
        ticket_number: Annotated[
            TicketNumber | None, Field(description="The customer's ticket it is about.")
        ] = None,
        order_id: Annotated[
            OrderId | None, Field(description="The customer's upgrade order it is about.")
        ] = None,
    ) -> SupportCase:
        """Open a support case for a customer; returns it with the reference they can quote.

        A ticket or order of another customer is TICKET_NOT_FOUND / ORDER_NOT_FOUND."""
        return await cases.open_case(
            customer_id=customer_id,
            summary=summary,
            preferred_contact=preferred_contact,
            ticket_number=ticket_number,
            order_id=order_id,
            idempotency_key=idempotency_key,
            caller=current_caller().client_id,
        )

    @mcp.tool(annotations=READ_ONLY, meta=requires(DATA_READ))
    async def get_support_case(
        reference: Annotated[CaseReference, _REFERENCE],
    ) -> SupportCase:
        """Get one support case."""
        return await cases.get_case(reference)

    @mcp.tool(annotations=READ_ONLY, meta=requires(DATA_READ))
    async def list_support_cases(
        status: Annotated[CaseStatus | None, Field(description="open or closed.")] = None,
        customer_id: Annotated[
            CustomerId | None, Field(description="Only this customer's.")
        ] = None,
        limit: Annotated[
            StrictInt, Field(ge=1, le=MAX_CASES, description="At most this many cases.")
        ] = 100,
    ) -> SupportCaseList:
        """List support cases, the longest waiting first."""
        return await cases.list_cases(status=status, customer_id=customer_id, limit=limit)

    @mcp.tool(annotations=UPDATES, meta=requires(DATA_WRITE))
    async def close_support_case(
        reference: Annotated[CaseReference, _REFERENCE],
        resolution: Annotated[CaseText, Field(description="How it was resolved.")],
    ) -> SupportCase:
        """Close a support case with its resolution; a closed case is returned as it was."""
        return await cases.close_case(reference, resolution, caller=current_caller().client_id)
