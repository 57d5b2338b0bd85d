"""Who a customer's token stands for: our ``cus_`` id from the token's subject.

The dev identity provider puts the customer id in ``sub``; Amazon Cognito puts a UUID of its
own there. Such a subject is resolved through the data server's ``sign_in_customer`` (issuer,
subject → customer, linked or made on the first sign-in by the token's verified e-mail
address), once per identity and process. Cognito's access tokens carry the address only when
the user pool's pre-token-generation trigger adds it (infra/, TicketingIdentity).

Every server that acts for customers resolves their tokens here, so one Cognito user is the
same customer everywhere: the ticket server (its orders) and the payment server (its saved
cards) alike.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from fastmcp.server.auth import AccessToken

from .auth import MALFORMED, TokenRefused
from .client import ToolCaller

CUSTOMER_ID = re.compile(r"^cus_[a-z2-7]{26}$")
CACHED_IDENTITIES = 10_000


class SignedIn(Protocol):
    @property
    def customer_id(self) -> str: ...


class SignIns(Protocol):
    """The data server's ``sign_in_customer``, as a server's gateway to it offers it."""

    async def sign_in_customer(
        self, *, issuer: str, subject: str, email: str, full_name: str
    ) -> SignedIn: ...


class DataSignIns:
    """:class:`SignIns` over a client of the data server, for a server that calls it for
    nothing else (the payment server)."""

    def __init__(self, client: ToolCaller):
        self.client = client

    async def sign_in_customer(
        self, *, issuer: str, subject: str, email: str, full_name: str
    ) -> SignedIn:
        arguments = {"issuer": issuer, "subject": subject, "email": email, "full_name": full_name}
        return _Customer(
            str((await self.client.call("sign_in_customer", arguments))["customer_id"])
        )


@dataclass(frozen=True)
class _Customer:
    customer_id: str


class CustomerSubjects:
    """A :data:`~servers.core.auth.SubjectResolver` over the data server."""

    def __init__(self, data: SignIns, *, cache_size: int = CACHED_IDENTITIES):
        self.data = data
        self.cache_size = cache_size
        self._known: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def __call__(self, access: AccessToken) -> str:
        subject = access.subject or ""
        if CUSTOMER_ID.fullmatch(subject):
            return subject
        claims = access.claims
        issuer = str(claims.get("iss", ""))
        known = self._known.get((issuer, subject))
        if known is not None:
            self._known.move_to_end((issuer, subject))
            return known
        email = claims.get("email")
        # Only an address the provider verified may link the sign-in to an existing customer.
        if not isinstance(email, str) or claims.get("email_verified") not in (True, "true"):
            raise TokenRefused(MALFORMED, "a customer's token must carry a verified e-mail")
        name = claims.get("name")
        full_name = name if isinstance(name, str) and name.strip() else email.split("@")[0]
        customer = await self.data.sign_in_customer(
            issuer=issuer, subject=subject, email=email, full_name=full_name[:200]
        )
        self._known[(issuer, subject)] = customer.customer_id
        if len(self._known) > self.cache_size:
            self._known.popitem(last=False)
        return customer.customer_id
