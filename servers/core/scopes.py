"""OAuth scopes of every resource server, and who gets which.

Scopes are written ``<resource-server>/<scope>`` as in Amazon Cognito. Cognito access tokens carry
no ``aud`` claim, so a server recognises tokens meant for it by the resource-server prefix of
their scopes ("audience by scope").
"""

from typing import Final

TICKETS_READ: Final = "tickets/read"
TICKETS_WRITE: Final = "tickets/write"
TICKETS_CATALOGUE: Final = "tickets/catalogue"
"""Public prices and the tier catalogue: nothing about any customer."""
TICKETS_OPERATE: Final = "tickets/operate"
"""The operators' variants of the customer tools, which name the customer they act for."""
TICKETS_WEBHOOKS: Final = "tickets/webhooks"
"""Payment events handed on by our REST edge (the ticket server checks their signature again)."""
PAYMENTS_READ: Final = "payments/read"
PAYMENTS_WRITE: Final = "payments/write"
PAYMENTS_REFUND: Final = "payments/refund"
DATA_READ: Final = "data/read"
DATA_WRITE: Final = "data/write"
NOTIFY_SEND: Final = "notify/send"
NOTIFY_READ: Final = "notify/read"
CONCIERGE_CHAT: Final = "concierge/chat"

ALL_SCOPES: Final[tuple[str, ...]] = (
    TICKETS_READ,
    TICKETS_WRITE,
    TICKETS_CATALOGUE,
    TICKETS_OPERATE,
    TICKETS_WEBHOOKS,
    PAYMENTS_READ,
    PAYMENTS_WRITE,
    PAYMENTS_REFUND,
    DATA_READ,
    DATA_WRITE,
    NOTIFY_SEND,
    NOTIFY_READ,
    CONCIERGE_CHAT,
)

CUSTOMER_SCOPES: Final[tuple[str, ...]] = (
    TICKETS_READ,
    TICKETS_WRITE,
    TICKETS_CATALOGUE,
    PAYMENTS_READ,
    PAYMENTS_WRITE,
    CONCIERGE_CHAT,
)

SERVICE_ONLY_SCOPES: Final[tuple[str, ...]] = (
    DATA_READ,
    DATA_WRITE,
    NOTIFY_SEND,
    NOTIFY_READ,
    PAYMENTS_REFUND,
    TICKETS_OPERATE,
    TICKETS_WEBHOOKS,
)
"""Scopes only our own service clients may use, whatever the issuer granted; every other scope is
a customer's, usable by any client registered with the issuer."""

OPS_SCOPES: Final[tuple[str, ...]] = tuple(
    s for s in ALL_SCOPES if s.split("/")[0] in {"data", "payments", "notify", "tickets"}
)


def resource_server(scope: str) -> str:
    """The resource-server identifier of a scope: ``data`` for ``data/read``."""
    return scope.split("/", 1)[0]
