"""The payment server's MCP tools: thin, typed wrappers over :class:`PaymentService`."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from mcp_types import ToolAnnotations
from pydantic import AwareDatetime, Field

from servers.core.app import CREATES, READ_ONLY, UPDATES, KitMCP, create_mcp, requires
from servers.core.auth import current_caller
from servers.core.scopes import PAYMENTS_READ, PAYMENTS_REFUND, PAYMENTS_WRITE
from servers.core.types import Cents, Currency, IdempotencyKey, StrictInt

from .checkout import Checkout
from .links import CHECKOUT_PATH
from .models import (
    CardNumber,
    CheckoutSession,
    CustomerRef,
    Cvc,
    Description,
    Event,
    EventId,
    EventList,
    Metadata,
    PaymentIntent,
    PaymentIntentId,
    PaymentMethod,
    PaymentMethodId,
    PaymentMethodList,
    PaymentMethodRef,
    Refund,
    RefundReason,
    ReturnUrl,
)
from .pages import CheckoutPages
from .service import Caller, PaymentService

RESOURCE = "payments"
SCOPES = (PAYMENTS_READ, PAYMENTS_WRITE, PAYMENTS_REFUND)

INSTRUCTIONS = """\
A test payment gateway that behaves like Stripe's PaymentIntents. A service creates an intent
for an amount; the payer pays it with a saved card (list_payment_methods), a test token such as
pm_card_visa, or on the hosted checkout page whose URL create_checkout_session gives, so that no
card number goes through a conversation. A declined card is a normal result: the intent comes
back requires_payment_method with last_payment_error. Test cards: 4242424242424242 succeeds;
4000000000000002 generic_decline; 4000000000009995 insufficient_funds; 4000000000000069
expired_card; 4000000000000127 incorrect_cvc; 4000000000000119 processing_error;
4000000000003220 and 4000002500003155 need 3-D Secure (the intent is requires_action and
next_action.url is the page where the customer approves it); 4000000000007775 fails with
processing_error twice, then succeeds. Writes take an idempotency_key: retrying with it returns
the first result."""

_KEY = Field(
    description="A unique key per intended write (8-128 of A-Z a-z 0-9 _ . : -). "
    "Retrying with the same key returns the first result."
)
_INTENT = Field(description="Payment intent id, pi_...")

# A new payment method per call, so a retry makes another (harmless) method.
ADDS = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False
)


def _caller() -> Caller:
    """A customer's token acts for its subject; a client-credentials token acts as a service."""
    calling = current_caller()
    return Caller(calling.client_id, calling.customer_id)


def build_server(service: PaymentService) -> KitMCP:
    """The tools, and the hosted checkout page's routes beside them."""
    mcp = create_mcp("payment", instructions=INSTRUCTIONS)
    checkout = Checkout(service)
    pages = CheckoutPages(
        checkout,
        csrf_key=hmac.new(service.fingerprint_key, b"checkout-csrf", hashlib.sha256).digest(),
    )
    mcp.custom_route(CHECKOUT_PATH, methods=["GET"])(pages.show)
    mcp.custom_route(CHECKOUT_PATH, methods=["POST"])(pages.submit)

    @mcp.tool(annotations=ADDS, meta=requires(PAYMENTS_WRITE))
    async def create_payment_method(
        card_number: Annotated[
            CardNumber,
            Field(
                description="Card number (digits, spaces allowed), or a test token such as "
                "pm_card_visa, pm_card_chargeDeclined, pm_card_chargeDeclinedInsufficientFunds. "
                "Never stored or logged."
            ),
        ],
        exp_month: Annotated[
            StrictInt | None, Field(description="Expiry month, 1-12 (not needed for a token).")
        ] = None,
        exp_year: Annotated[
            StrictInt | None, Field(description="Expiry year, e.g. 2030 (not needed for a token).")
        ] = None,
        cvc: Annotated[
            Cvc | None,
            Field(description="Security code: 3 digits, 4 for Amex (not needed for a token)."),
        ] = None,
    ) -> PaymentMethod:
        """Add a card; returns a pm_ id to pay with, its brand and last four digits.

        INCORRECT_NUMBER, INVALID_EXPIRY_MONTH, INVALID_EXPIRY_YEAR or INVALID_CVC when the card
        is not valid. The method belongs to the calling customer (to no one when a service
        makes it); a card the customer has saved already (the same number and expiry) answers
        with the saved method rather than a copy."""
        return await service.create_payment_method(
            _caller(), card_number=card_number, exp_month=exp_month, exp_year=exp_year, cvc=cvc
        )

    @mcp.tool(annotations=READ_ONLY, meta=requires(PAYMENTS_READ))
    async def list_payment_methods() -> PaymentMethodList:
        """List the calling customer's saved cards (brand, last four, expiry), newest first."""
        return await service.list_payment_methods(_caller())

    @mcp.tool(annotations=UPDATES, meta=requires(PAYMENTS_WRITE))
    async def detach_payment_method(
        payment_method_id: Annotated[
            PaymentMethodId, Field(description="One of the customer's saved cards, pm_...")
        ],
    ) -> PaymentMethod:
        """Remove one of the calling customer's saved cards: it can no longer pay.

        PAYMENT_METHOD_NOT_FOUND for a card that is not the caller's."""
        return await service.detach_payment_method(_caller(), payment_method_id)

    @mcp.tool(annotations=CREATES, meta=requires(PAYMENTS_WRITE))
    async def create_payment_intent(
        amount_cents: Annotated[Cents, Field(description="Amount to charge, in cents (>= 1).")],
        currency: Annotated[Currency, Field(description="ISO 4217 currency code, e.g. USD.")],
        idempotency_key: Annotated[IdempotencyKey, _KEY],
        description: Annotated[
            Description | None, Field(description="What is paid for, shown to the payer.")
        ] = None,
        customer_ref: Annotated[
            CustomerRef | None,
            Field(description="The paying customer's id: only that customer may confirm it."),
        ] = None,
        metadata: Annotated[
            Metadata | None,
            Field(description="Up to 20 string key/values kept with the intent (e.g. order_id)."),
        ] = None,
    ) -> PaymentIntent:
        """Create a payment intent for an amount (services only); it starts
        requires_payment_method."""
        return await service.create_payment_intent(
            _caller(),
            amount_cents=amount_cents,
            currency=currency,
            description=description,
            customer_ref=customer_ref,
            metadata=metadata or {},
            idempotency_key=idempotency_key,
        )

    @mcp.tool(annotations=UPDATES, meta=requires(PAYMENTS_WRITE))
    async def confirm_payment_intent(
        payment_intent_id: Annotated[PaymentIntentId, _INTENT],
        payment_method: Annotated[
            PaymentMethodRef,
            Field(description="A pm_ id from create_payment_method, or a test token."),
        ],
        idempotency_key: Annotated[IdempotencyKey, _KEY],
    ) -> PaymentIntent:
        """Pay an intent with a card. A decline is a result, not an error: the intent comes
        back requires_payment_method with last_payment_error {code, decline_code, message}.

        A card that needs 3-D Secure leaves it requires_action: the customer approves it on the
        page at next_action.url. INVALID_STATE when the intent is already succeeded or
        canceled."""
        return await service.confirm_payment_intent(
            _caller(),
            payment_intent_id=payment_intent_id,
            payment_method=payment_method,
            idempotency_key=idempotency_key,
        )

    @mcp.tool(annotations=CREATES, meta=requires(PAYMENTS_WRITE))
    async def create_checkout_session(
        payment_intent_id: Annotated[PaymentIntentId, _INTENT],
        expires_at: Annotated[
            AwareDatetime,
            Field(
                description="When the page stops taking payments (ISO 8601 with offset; "
                "within 24 hours), e.g. the end of the order's hold."
            ),
        ],
        idempotency_key: Annotated[IdempotencyKey, _KEY],
        success_url: Annotated[
            ReturnUrl | None, Field(description="Offered to the customer once paid.")
        ] = None,
        cancel_url: Annotated[
            ReturnUrl | None, Field(description="Offered to the customer who gives up.")
        ] = None,
    ) -> CheckoutSession:
        """Open a hosted checkout page for an intent (services only): send the customer to its
        url to enter a card there; card data never passes through the caller.

        Paid on the page, the intent succeeds and its webhook follows as for any payment.
        INVALID_EXPIRY, or INVALID_STATE for an intent no longer waiting for payment."""
        return await checkout.create_checkout_session(
            _caller(),
            payment_intent_id=payment_intent_id,
            expires_at=expires_at,
            success_url=success_url,
            cancel_url=cancel_url,
            idempotency_key=idempotency_key,
        )

    @mcp.tool(annotations=READ_ONLY, meta=requires(PAYMENTS_READ))
    async def get_payment_intent(
        payment_intent_id: Annotated[PaymentIntentId, _INTENT],
    ) -> PaymentIntent:
        """Get a payment intent: status, amounts received and refunded, last error."""
        return await service.get_payment_intent(_caller(), payment_intent_id)

    @mcp.tool(annotations=UPDATES, meta=requires(PAYMENTS_WRITE))
    async def cancel_payment_intent(
        payment_intent_id: Annotated[PaymentIntentId, _INTENT],
        idempotency_key: Annotated[IdempotencyKey, _KEY],
    ) -> PaymentIntent:
        """Cancel an intent that has not been paid; a canceled one is returned as it is."""
        return await service.cancel_payment_intent(
            _caller(), payment_intent_id=payment_intent_id, idempotency_key=idempotency_key
        )

    @mcp.tool(annotations=CREATES, meta=requires(PAYMENTS_REFUND))
    async def create_refund(
        payment_intent_id: Annotated[PaymentIntentId, _INTENT],
        reason: Annotated[
            RefundReason, Field(description="requested_by_customer, duplicate or fraudulent.")
        ],
        idempotency_key: Annotated[IdempotencyKey, _KEY],
        amount_cents: Annotated[
            Cents | None,
            Field(description="Cents to refund; omitted, everything not yet refunded."),
        ] = None,
    ) -> Refund:
        """Refund a succeeded payment in full or in part; REFUND_EXCEEDS_CHARGE beyond what
        is left."""
        return await service.create_refund(
            _caller(),
            payment_intent_id=payment_intent_id,
            amount_cents=amount_cents,
            reason=reason,
            idempotency_key=idempotency_key,
        )

    @mcp.tool(annotations=READ_ONLY, meta=requires(PAYMENTS_READ))
    async def list_events(
        since: Annotated[
            EventId | None, Field(description="Only events after this one (evt_...).")
        ] = None,
        limit: Annotated[
            StrictInt, Field(ge=1, le=100, description="At most this many (1-100).")
        ] = 50,
    ) -> EventList:
        """List events oldest first: payment_intent.succeeded, payment_intent.payment_failed,
        payment_intent.canceled, charge.refunded."""
        return await service.list_events(_caller(), since=since, limit=limit)

    @mcp.tool(annotations=READ_ONLY, meta=requires(PAYMENTS_READ))
    async def get_event(
        event_id: Annotated[EventId, Field(description="Event id, evt_...")],
    ) -> Event:
        """Get one event with the object it is about, as it was then."""
        return await service.get_event(_caller(), event_id)

    return mcp
