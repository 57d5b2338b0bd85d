"""The verifier's subject hook: a user's token is mapped once to this suite's subject (Cognito's
UUID ``sub`` to a customer id), a service's token never, and a refusal is a refused token."""

from __future__ import annotations

from fastmcp.server.auth import AccessToken

from servers.core.auth import MALFORMED, TokenRefused
from tests.core.test_auth import Jwks, access, new_key, verifier

COGNITO_SUB = "8f1c2a4e-1b2c-4d3e-9f00-0123456789ab"


class Mapper:
    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.asked: list[AccessToken] = []

    async def __call__(self, token: AccessToken) -> str:
        self.asked.append(token)
        if self.answer is None:
            raise TokenRefused(MALFORMED, "no verified e-mail")
        return self.answer


async def test_a_users_subject_is_mapped_once_and_the_mapped_token_is_kept() -> None:
    key = new_key()
    mapper = Mapper("cus_" + "a" * 26)
    check = verifier(Jwks(key), resource="tickets", subjects=mapper)
    token = access(key, sub=COGNITO_SUB, client_id="web", scopes=["tickets/read"])
    first = await check.verify_token(token)
    again = await check.verify_token(token)
    assert first is not None
    assert again is not None
    assert first.subject == again.subject == "cus_" + "a" * 26
    assert first.client_id == "web"
    assert len(mapper.asked) == 1
    assert mapper.asked[0].subject == COGNITO_SUB


async def test_a_services_own_token_is_not_mapped() -> None:
    key = new_key()
    mapper = Mapper("cus_" + "b" * 26)
    accepted = await verifier(Jwks(key), subjects=mapper).verify_token(
        access(key, sub="ticket-server", client_id="ticket-server")
    )
    assert accepted is not None
    assert accepted.subject == "ticket-server"
    assert mapper.asked == []


async def test_a_subject_the_mapper_refuses_is_a_refused_token() -> None:
    key = new_key()
    mapper = Mapper(None)
    refused = await verifier(Jwks(key), resource="tickets", subjects=mapper).verify_token(
        access(key, sub=COGNITO_SUB, client_id="web", scopes=["tickets/read"])
    )
    assert refused is None
    assert len(mapper.asked) == 1  # refused by the mapper, not before it
