"""Sign-in identities: the customer an identity provider's (issuer, subject) stands for.

The dev identity provider's tokens carry our ``cus_`` id as ``sub``; Amazon Cognito's carry a
UUID of its own. The ticket server resolves such a subject here once per token: the first
sign-in links the identity to the customer with the token's (verified) e-mail address, making
the customer if there is none, and every later sign-in finds the same customer, even if the
address changes at the provider. Safe under concurrency: two first sign-ins at once end with
one customer and one identity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from servers.core.app import CREATES, requires
from servers.core.db import Database, Transaction
from servers.core.ids import new_id
from servers.core.scopes import DATA_WRITE

from . import repository as repo
from .models import Customer, Email, FullName


async def _customer_of(tx: Transaction, issuer: str, subject: str) -> Customer | None:
    row = await tx.fetch_one(
        "SELECT c.customer_id, c.email, c.full_name, c.created_at FROM data.identities i "
        "JOIN data.customers c USING (customer_id) WHERE i.issuer = :iss AND i.subject = :sub",
        {"iss": issuer, "sub": subject},
    )
    return None if row is None else Customer.model_validate(row)


class Identities:
    def __init__(self, db: Database, *, clock: Callable[[], datetime]):
        self.db = db
        self.clock = clock

    async def sign_in(self, *, issuer: str, subject: str, email: str, full_name: str) -> Customer:
        """The customer of (issuer, subject), linked on its first sign-in to the customer
        with ``email`` or to a new one."""
        async with self.db.read() as tx:
            known = await _customer_of(tx, issuer, subject)
        if known is not None:
            return known
        email = email.lower()
        async with self.db.transaction() as tx:
            now = self.clock()
            customer = await repo.insert_customer(tx, new_id("cus"), email, full_name, now)
            if customer is None:  # the address is a customer's already (or just became one)
                customer = await repo.customer_by_email(tx, email)
            assert customer is not None
            # A concurrent first sign-in of the same identity may have linked it meanwhile:
            # its link stands, and both answer with its customer.
            await tx.execute(
                "INSERT INTO data.identities (issuer, subject, customer_id, created_at) "
                "VALUES (:iss, :sub, :cid, :now) ON CONFLICT (issuer, subject) DO NOTHING",
                {"iss": issuer, "sub": subject, "cid": customer.customer_id, "now": now},
            )
            linked = await _customer_of(tx, issuer, subject)
        assert linked is not None
        return linked


def register_identity_tools(mcp: FastMCP, identities: Identities) -> None:
    @mcp.tool(annotations=CREATES, meta=requires(DATA_WRITE))
    async def sign_in_customer(
        issuer: Annotated[
            str,
            Field(
                pattern=r"^https?://",
                max_length=500,
                description="The token's issuer (iss), e.g. Cognito's user pool URL.",
            ),
        ],
        subject: Annotated[
            str,
            Field(min_length=1, max_length=255, description="The token's subject (sub)."),
        ],
        email: Annotated[Email, Field(description="The e-mail address the provider verified.")],
        full_name: Annotated[FullName, Field(description="Name for e-mails, on first sign-in.")],
    ) -> Customer:
        """The customer a sign-in identity stands for: on its first sign-in, linked to the
        customer with this e-mail address or to a new customer; the same customer ever after.
        Idempotent by nature (no key needed)."""
        return await identities.sign_in(
            issuer=issuer, subject=subject, email=str(email), full_name=full_name
        )
