"""Where the hosted checkout page lives on the payment server's public URL, in one place for
the page's routes, the links the server hands out and the infrastructure that routes the page to
the server's code in AWS (infra/ticketing_infra/checkout.py, which imports this module without
the server's web stack)."""

from __future__ import annotations

CHECKOUT_PREFIX = "/checkout/"
"""Every path of the page, and its CSRF cookie's path."""
CHECKOUT_PATH = f"{CHECKOUT_PREFIX}{{checkout_session_id}}"
"""The page's one route (GET shows it, POST takes its forms): Starlette's path syntax, which is
API Gateway's too."""


def checkout_url(public_url: str, checkout_session_id: str) -> str:
    """The hosted page of a checkout session: where a card is entered or a challenge passed."""
    return f"{public_url.rstrip('/')}{CHECKOUT_PREFIX}{checkout_session_id}"
