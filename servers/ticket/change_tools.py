"""The ticket server's tools for changing a confirmed upgrade (customers only: no
``customer_id`` argument; the token says whose order it is)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastmcp import FastMCP
from mcp_types import ToolAnnotations
from pydantic import Field

from servers.core.app import READ_ONLY, requires
from servers.core.scopes import TICKETS_READ, TICKETS_WRITE
from servers.core.types import IdempotencyKey, IsoDate

from .change import ChangeQuote, UpgradeChange, UpgradeChanges
from .models import OrderId
from .rules import Tier
from .service import Caller

_ORDER = Field(description="The confirmed upgrade order to change, ord_...")
_DATE = Field(description="The new visit date (ISO date), one the calendar offers.")
_TIER = Field(
    description="The new tier (standard, non_stop or double_fun); leave it out to keep the tier."
)


# A change gives up the old date's seat and moves money through the payment processor: an open
# world, destructive of the old booking, and retry-safe through its key.
CHANGES = ToolAnnotations(
    readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=True
)


def register_change_tools(
    mcp: FastMCP, changes: UpgradeChanges, caller: Callable[[], Caller]
) -> None:
    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def quote_change(
        order_id: Annotated[OrderId, _ORDER],
        date: Annotated[IsoDate, _DATE],
        tier: Annotated[Tier | None, _TIER] = None,
    ) -> ChangeQuote:
        """What moving a confirmed upgrade to another date (and tier) would cost: the new
        price, what was paid, the difference to charge or refund, and whether a seat is free."""
        return await changes.quote_change(caller(), order_id, date, tier)

    @mcp.tool(annotations=CHANGES, meta=requires(TICKETS_WRITE))
    async def change_upgrade(
        order_id: Annotated[OrderId, _ORDER],
        date: Annotated[IsoDate, _DATE],
        idempotency_key: Annotated[
            IdempotencyKey,
            Field(
                description="A unique key per intended change (8-128 of A-Z a-z 0-9 _ . : -); "
                "retrying with the same key returns the first answer."
            ),
        ],
        tier: Annotated[Tier | None, _TIER] = None,
    ) -> UpgradeChange:
        """Move a confirmed upgrade to another date (and tier) in one step: charges the
        difference to the card that paid it, or refunds it. A declined card or a sold-out date
        leaves the upgrade exactly as it was. Quote first and confirm with the customer."""
        return await changes.change_upgrade(caller(), order_id, date, tier, idempotency_key)
