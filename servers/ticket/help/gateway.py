"""The data server's support-case tools as the ticket server uses them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from servers.core.client import RemoteToolError, ToolCaller
from servers.core.errors import IDEMPOTENCY_MISMATCH, DomainError

from ..gateways import Remote

# The data server's refusal of a key reused with other arguments: answered in this server's
# own words, since the data server's names the derived key and its own tool.
DATA_IDEMPOTENCY_MISMATCH = IDEMPOTENCY_MISMATCH


class RemoteCase(Remote):
    reference: str
    customer_id: str
    summary: str
    preferred_contact: str
    ticket_number: str | None
    order_id: str | None
    status: Literal["open", "closed"]
    created_at: datetime


class SupportGateway:
    def __init__(self, client: ToolCaller):
        self.client = client

    async def open_case(
        self,
        *,
        customer_id: str,
        summary: str,
        preferred_contact: str,
        ticket_number: str | None,
        order_id: str | None,
        idempotency_key: str,
    ) -> RemoteCase:
        try:
            found = await self.client.call(
                "open_support_case",
                {
                    "customer_id": customer_id,
                    "summary": summary,
                    "preferred_contact": preferred_contact,
                    "ticket_number": ticket_number,
                    "order_id": order_id,
                    "idempotency_key": idempotency_key,
                },
            )
        except RemoteToolError as exc:
            if exc.code == DATA_IDEMPOTENCY_MISMATCH:
                raise DomainError(
                    IDEMPOTENCY_MISMATCH,
                    "this idempotency_key was used for a different request for help; use a "
                    "new key for a new request",
                ) from None
            raise
        return RemoteCase.model_validate(found)
