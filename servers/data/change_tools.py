"""The data server's tools for changing a confirmed upgrade: thin wrappers over
:class:`~servers.data.changes.OrderChanges`."""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from servers.core.app import CREATES, READ_ONLY, UPDATES, requires
from servers.core.auth import current_caller
from servers.core.scopes import DATA_READ, DATA_WRITE
from servers.core.types import Cents, IdempotencyKey, IsoDate, StrictInt

from .changes import OrderChanges
from .models import (
    ChangeId,
    ChangeReleaseReason,
    DeclineCode,
    OrderChange,
    OrderId,
    OrderPayments,
    PaymentIntentId,
    Tier,
)

_CHANGE = Field(description="Change id, chg_...")


def register_change_tools(mcp: FastMCP, changes: OrderChanges) -> None:
    @mcp.tool(annotations=CREATES, meta=requires(DATA_WRITE))
    async def hold_change(
        order_id: Annotated[OrderId, Field(description="The confirmed order to move, ord_...")],
        tier: Annotated[Tier, Field(description="The tier after the change.")],
        visit_date: Annotated[IsoDate, Field(description="The visit date after the change.")],
        amount_cents: Annotated[Cents, Field(description="The price after the change, in cents.")],
        idempotency_key: Annotated[
            IdempotencyKey,
            Field(description="A unique key per intended change; a retry answers the change."),
        ],
        hold_minutes: Annotated[
            StrictInt, Field(ge=1, le=60, description="How long the new seat is held.")
        ] = 15,
    ) -> OrderChange:
        """Hold a seat on another date/tier for a confirmed order, leaving the order as it is;
        plans the refunds of a cheaper change. SOLD_OUT, NO_CHANGE, CHANGE_IN_PROGRESS."""
        return await changes.hold(
            order_id=order_id,
            tier=tier,
            visit_date=visit_date,
            amount_cents=amount_cents,
            hold_minutes=hold_minutes,
            idempotency_key=idempotency_key,
            caller=current_caller().client_id,
        )

    @mcp.tool(annotations=UPDATES, meta=requires(DATA_WRITE))
    async def apply_change(
        change_id: Annotated[ChangeId, _CHANGE],
        charge_intent_id: Annotated[
            PaymentIntentId | None,
            Field(description="The payment of the difference, when the change costs more."),
        ] = None,
    ) -> OrderChange:
        """Move the order and its ticket to the held date and tier in one step (the old seat
        is freed in the same commit). Idempotent."""
        return await changes.apply(change_id, charge_intent_id)

    @mcp.tool(annotations=UPDATES, meta=requires(DATA_WRITE))
    async def release_change(
        change_id: Annotated[ChangeId, _CHANGE],
        reason: Annotated[ChangeReleaseReason, Field(description="declined, expired, cancelled.")],
        decline_code: Annotated[
            DeclineCode | None, Field(description="Why the card declined, if it did.")
        ] = None,
    ) -> OrderChange:
        """Give a held change's seat back; the order and ticket stay as they are."""
        return await changes.release(change_id, reason, decline_code)

    @mcp.tool(annotations=READ_ONLY, meta=requires(DATA_READ))
    async def get_order_payments(
        order_id: Annotated[OrderId, Field(description="Order id, ord_...")],
    ) -> OrderPayments:
        """The payments of an order (its first one, then each change's difference) and what
        changes gave back of each: what is left to refund."""
        return await changes.payments(order_id)
