"""The app server's public-prices route (host/catalogue.py) for visitors who are not signed in:
what it lets through, and what it says when prices cannot be had. The price page itself, in a
browser against the real stack, is web/e2e/prices.spec.ts."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from host.catalogue import VISITOR_BURST, catalogue_app, public_arguments
from servers.core.client import RemoteUnavailable
from servers.core.errors import DomainError


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[]", "the body is not a JSON object"),
        (b"{", "the body is not JSON"),
        (b'{"ticket_type": "general", "customer_id": "cus_x"}', "quote_price takes no customer_id"),
        (b'{"ticket_type": 7}', "every argument is a string"),
        (b'{"date": "' + b"9" * 2000 + b'"}', "the arguments exceed 1024 bytes"),
    ],
)
def test_public_arguments_refuses_anything_but_the_tools_own_string_arguments(
    body: bytes, problem: str
) -> None:
    with pytest.raises(DomainError) as refused:
        public_arguments("quote_price", body)
    assert (refused.value.code, refused.value.message) == ("INVALID_ARGUMENT", problem)


def test_public_arguments_passes_the_tools_own_arguments() -> None:
    assert public_arguments("quote_price", b'{"ticket_type": "vip", "date": "2027-01-05"}') == {
        "ticket_type": "vip",
        "date": "2027-01-05",
    }
    assert public_arguments("get_price_calendar", b"") == {}


class _Unreachable:
    """A ticket server that cannot be reached."""

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        raise RemoteUnavailable(tool, "ClientConnectorError")


def test_the_public_route_says_when_prices_cannot_be_had_and_limits_each_visitor() -> None:
    unconfigured = TestClient(catalogue_app(None))
    answer = unconfigured.post("/quote_price", json={})
    assert (answer.status_code, answer.json()) == (
        503,
        {"error": "UNAVAILABLE: public prices are not configured on this server"},
    )
    # A clock that stands still: the burst is one instant, however slow the machine.
    down = TestClient(catalogue_app(_Unreachable(), clock=lambda: 1000.0))
    answers = [down.post("/get_price_calendar", json={}) for _ in range(VISITOR_BURST + 1)]
    assert [a.status_code for a in answers] == [503] * VISITOR_BURST + [429]
    assert answers[0].json()["error"].startswith("UNAVAILABLE: a service this call needs")
    assert "retry-after" in answers[-1].headers
