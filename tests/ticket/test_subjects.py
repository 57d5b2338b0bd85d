"""Customer subjects: a Cognito-shaped user token resolves through the real data server (in
process, on real PostgreSQL) to the customer with its verified e-mail, or a new one; the dev
provider's ``cus_`` subjects pass unchanged."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.server.auth import AccessToken

from servers.core.auth import TokenRefused
from servers.core.client import ServiceClient
from servers.core.subjects import CustomerSubjects
from servers.data.server import build_server as build_data_server
from servers.data.service import DataService
from servers.ticket.gateways import DataGateway

from .support import TICKET_SERVER

COGNITO = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_AbCdEf"


class Counting(DataGateway):
    """The real gateway, counting the sign-ins it asks the data server for."""

    calls = 0

    async def sign_in_customer(self, **arguments: Any) -> Any:
        self.calls += 1
        return await super().sign_in_customer(**arguments)


@pytest.fixture
async def gateway(data: DataService) -> AsyncIterator[Counting]:
    async with ServiceClient(Client(build_data_server(data)), caller=TICKET_SERVER) as client:
        yield Counting(client)


def token(sub: str, **claims: Any) -> AccessToken:
    every = {"iss": COGNITO, "sub": sub, "client_id": "web", "token_use": "access"} | claims
    return AccessToken(
        token="opaque",
        client_id="web",
        scopes=["tickets/read"],
        expires_at=int(time.time()) + 600,
        subject=sub,
        claims=every,
    )


async def test_a_seeded_customer_signing_in_with_cognito_is_that_customer(
    gateway: Counting, data: DataService
) -> None:
    john = await data.find_customer("john.doe@example.com")
    subjects = CustomerSubjects(gateway)
    sub = str(uuid.uuid4())
    verified = token(sub, email="John.Doe@example.com", email_verified=True, name="John")
    assert await subjects(verified) == john.customer_id
    assert await subjects(verified) == john.customer_id
    assert gateway.calls == 1  # once per identity and process


async def test_a_new_visitor_becomes_a_new_customer(gateway: Counting) -> None:
    subjects = CustomerSubjects(gateway)
    first = await subjects(token(str(uuid.uuid4()), email="new@example.com", email_verified="true"))
    assert first.startswith("cus_")
    other = await subjects(token(str(uuid.uuid4()), email="other@example.com", email_verified=True))
    assert other != first


async def test_the_dev_providers_customer_ids_pass_unchanged(gateway: Counting) -> None:
    customer = "cus_" + "c" * 26
    assert await CustomerSubjects(gateway)(token(customer)) == customer
    assert gateway.calls == 0


@pytest.mark.parametrize(
    "claims",
    [{}, {"email": "x@example.com"}, {"email": "x@example.com", "email_verified": False}],
)
async def test_without_a_verified_address_the_token_is_refused(
    gateway: Counting, claims: dict[str, Any]
) -> None:
    with pytest.raises(TokenRefused):
        await CustomerSubjects(gateway)(token(str(uuid.uuid4()), **claims))
    assert gateway.calls == 0
