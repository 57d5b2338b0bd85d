"""The data and payment servers' tools a change of a confirmed upgrade needs, as typed calls.

Kept beside :mod:`servers.ticket.gateways` (over the same clients) so that the change flow adds
to the ticket server without reshaping what the other flows use. The refusals of other servers
the change flow acts on are read here and come back as :class:`ChangeRefused` with this
server's own reason, never as another server's code.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from servers.core.client import RemoteToolError, ToolCaller

from .gateways import PAYMENT_INVALID_STATE, Remote, RemoteIntent, RemoteRefund
from .rules import Tier

# The data server's refusals of a change.
DATA_SOLD_OUT = "SOLD_OUT"
DATA_NO_CHANGE = "NO_CHANGE"
DATA_CHANGE_IN_PROGRESS = "CHANGE_IN_PROGRESS"
DATA_INVALID_STATE = "INVALID_STATE"
DATA_HOLD_EXPIRED = "HOLD_EXPIRED"
IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"
# The payment server's refusal of a refund beyond what is left of a payment.
PAYMENT_NOTHING_LEFT = "REFUND_EXCEEDS_CHARGE"

Refusal = Literal["sold_out", "no_change", "in_progress", "closed", "lapsed", "key_reused"]

_REFUSALS: dict[str, Refusal] = {
    DATA_SOLD_OUT: "sold_out",
    DATA_NO_CHANGE: "no_change",
    DATA_CHANGE_IN_PROGRESS: "in_progress",
    DATA_INVALID_STATE: "closed",
    DATA_HOLD_EXPIRED: "lapsed",
    IDEMPOTENCY_MISMATCH: "key_reused",
}


class ChangeRefused(Exception):
    """The data server will not hold or apply the change; ``reason`` says why, in this
    server's terms (its own wording stays in the log)."""

    def __init__(self, reason: Refusal, detail: str):
        super().__init__(detail)
        self.reason = reason


class RemoteRefundPart(Remote):
    payment_intent_id: str
    amount_cents: int


class RemoteChange(Remote):
    change_id: str
    order_id: str
    status: Literal["held", "applied", "released"]
    from_tier: Tier
    from_visit_date: date
    from_amount_cents: int
    to_tier: Tier
    to_visit_date: date
    to_amount_cents: int
    currency: str
    hold_expires_at: datetime
    charge_intent_id: str | None
    refund_plan: list[RemoteRefundPart]
    release_reason: Literal["declined", "expired", "cancelled"] | None
    decline_code: str | None


class RemotePayment(Remote):
    payment_intent_id: str
    charged_cents: int
    refunded_cents: int


class RemotePaidIntent(RemoteIntent):
    payment_method: str | None


class ChangeGateway:
    """hold/apply/release a change on the data server; charge and refund on the payment
    server (each call with the ticket server's own token)."""

    def __init__(self, data: ToolCaller, payments: ToolCaller):
        self.data = data
        self.payments = payments

    async def hold(
        self,
        *,
        order_id: str,
        tier: Tier,
        visit_date: date,
        amount_cents: int,
        hold_minutes: int,
        idempotency_key: str,
    ) -> RemoteChange:
        return await self._change(
            "hold_change",
            {
                "order_id": order_id,
                "tier": tier,
                "visit_date": visit_date.isoformat(),
                "amount_cents": amount_cents,
                "hold_minutes": hold_minutes,
                "idempotency_key": idempotency_key,
            },
        )

    async def apply(self, change_id: str, charge_intent_id: str | None) -> RemoteChange:
        arguments: dict[str, object] = {"change_id": change_id}
        if charge_intent_id is not None:
            arguments["charge_intent_id"] = charge_intent_id
        return await self._change("apply_change", arguments)

    async def release(
        self, change_id: str, reason: str, decline_code: str | None = None
    ) -> RemoteChange:
        arguments: dict[str, object] = {"change_id": change_id, "reason": reason}
        if decline_code is not None:
            arguments["decline_code"] = decline_code
        return await self._change("release_change", arguments)

    async def order_payments(self, order_id: str) -> list[RemotePayment]:
        found = await self.data.call("get_order_payments", {"order_id": order_id})
        return [RemotePayment.model_validate(p) for p in found["payments"]]

    async def paid_with(self, payment_intent_id: str) -> str | None:
        """The payment method that paid an intent (the card to charge a difference to)."""
        found = await self.payments.call(
            "get_payment_intent", {"payment_intent_id": payment_intent_id}
        )
        return RemotePaidIntent.model_validate(found).payment_method

    async def refund(
        self, payment_intent_id: str, amount_cents: int | None, idempotency_key: str
    ) -> RemoteRefund | None:
        """The refund (all that is left when ``amount_cents`` is None); None when less is
        left of that payment than asked (a cancellation refunded it all first) and this key
        refunded nothing before."""
        arguments: dict[str, object] = {
            "payment_intent_id": payment_intent_id,
            "reason": "requested_by_customer",
            "idempotency_key": idempotency_key,
        }
        if amount_cents is not None:
            arguments["amount_cents"] = amount_cents
        try:
            found = await self.payments.call("create_refund", arguments)
        except RemoteToolError as exc:
            if exc.code == PAYMENT_NOTHING_LEFT:
                return None
            raise
        return RemoteRefund.model_validate(found)

    async def cancel_intent(self, payment_intent_id: str, idempotency_key: str) -> None:
        """Cancel a declined difference payment; one paid meanwhile is left for the caller to
        find (its status tells)."""
        try:
            await self.payments.call(
                "cancel_payment_intent",
                {"payment_intent_id": payment_intent_id, "idempotency_key": idempotency_key},
            )
        except RemoteToolError as exc:
            if exc.code != PAYMENT_INVALID_STATE:
                raise

    async def _change(self, tool: str, arguments: dict[str, object]) -> RemoteChange:
        try:
            found = await self.data.call(tool, arguments)
        except RemoteToolError as exc:
            reason = _REFUSALS.get(exc.code)
            if reason is None:
                raise
            raise ChangeRefused(reason, exc.message) from exc
        return RemoteChange.model_validate(found)


async def refund_everything(
    gateway: ChangeGateway, order_id: str, first_intent: str
) -> RemoteRefund:
    """Refund all that is left of every payment of an order (its first one and the differences
    its changes charged); the first refund made, with the total refunded as its amount.

    Each payment is refunded under its own key, so a retry replays rather than repeats; a
    payment with nothing left (a cheaper change gave it all back) is skipped.
    """
    refunds = []
    for payment in await gateway.order_payments(order_id):
        intent = payment.payment_intent_id
        key = f"refund:{order_id}" if intent == first_intent else f"refund:{order_id}:{intent}"
        refund = await gateway.refund(intent, None, key)
        if refund is not None:
            refunds.append(refund)
    if not refunds:
        raise RuntimeError(f"order {order_id} had nothing left to refund")
    return RemoteRefund(id=refunds[0].id, amount_cents=sum(r.amount_cents for r in refunds))
