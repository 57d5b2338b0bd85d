"""Sign-in identities on real PostgreSQL (and the Data API stand-in): a provider's
(issuer, subject) maps to one customer, made or linked by e-mail on the first sign-in."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastmcp import Client

from servers.core.auth import Principal, acting_as
from servers.core.db import Database
from servers.data.identities import Identities
from servers.data.server import build_server
from servers.data.service import DataService
from tests.data.conftest import FakeClock

COGNITO = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_AbCdEf"
OTHER = "https://login.example.org/"


def sub() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def identities(db: Database, clock: FakeClock) -> Identities:
    return Identities(db, clock=clock)


async def test_a_first_sign_in_makes_a_customer_and_later_ones_find_it(
    identities: Identities, svc: DataService
) -> None:
    subject = sub()
    first = await identities.sign_in(
        issuer=COGNITO, subject=subject, email="New.Visitor@Example.com", full_name="New Visitor"
    )
    assert first.customer_id.startswith("cus_")
    assert first.email == "new.visitor@example.com"
    # The address changed at the provider: still the same customer, whose record is unchanged.
    again = await identities.sign_in(
        issuer=COGNITO, subject=subject, email="renamed@example.com", full_name="Renamed"
    )
    assert again == first
    assert await svc.get_customer(first.customer_id) == first


async def test_a_sign_in_with_a_customers_address_is_linked_to_that_customer(
    identities: Identities, svc: DataService
) -> None:
    existing = await svc.create_customer(
        email="jane@example.com", full_name="Jane", idempotency_key="k-jane", caller="ops"
    )
    linked = await identities.sign_in(
        issuer=COGNITO, subject=sub(), email="JANE@example.com", full_name="Jane at Cognito"
    )
    assert linked == existing
    # Another provider's identity with the same verified address is the same customer too.
    elsewhere = await identities.sign_in(
        issuer=OTHER, subject=sub(), email="jane@example.com", full_name="Jane"
    )
    assert elsewhere == existing


async def test_the_same_subject_at_another_issuer_is_another_identity(
    identities: Identities,
) -> None:
    subject = sub()
    one = await identities.sign_in(
        issuer=COGNITO, subject=subject, email="one@example.com", full_name="One"
    )
    two = await identities.sign_in(
        issuer=OTHER, subject=subject, email="two@example.com", full_name="Two"
    )
    assert one.customer_id != two.customer_id


async def test_concurrent_first_sign_ins_end_with_one_customer(
    identities: Identities, db: Database
) -> None:
    subject = sub()
    results = await asyncio.gather(
        *(
            identities.sign_in(
                issuer=COGNITO, subject=subject, email="race@example.com", full_name="Race"
            )
            for _ in range(5)
        ),
        return_exceptions=True,
    )
    customers = {r.customer_id for r in results if not isinstance(r, BaseException)}
    assert len(customers) == 1, results
    async with db.read() as tx:
        rows = await tx.fetch_all(
            "SELECT customer_id FROM data.customers WHERE email = 'race@example.com'"
        )
        links = await tx.fetch_all(
            "SELECT customer_id FROM data.identities WHERE subject = :s", {"s": subject}
        )
    assert [r["customer_id"] for r in rows] == list(customers)
    assert [r["customer_id"] for r in links] == list(customers)


async def test_the_tool_answers_the_same_customer_when_called_again(db: Database) -> None:
    subject = sub()
    arguments = {
        "issuer": COGNITO,
        "subject": subject,
        "email": "tool@example.com",
        "full_name": "Tool User",
    }
    with acting_as(Principal("ticket-server", scopes=frozenset({"data/write"}))):
        async with Client(build_server(DataService(db))) as client:
            first = await client.call_tool("sign_in_customer", arguments)
            again = await client.call_tool("sign_in_customer", arguments)
    assert first.structured_content == again.structured_content
    assert first.structured_content is not None
    assert first.structured_content["email"] == "tool@example.com"
