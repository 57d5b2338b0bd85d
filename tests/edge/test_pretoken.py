"""The pre-token-generation trigger: verified addresses only, in Cognito's V2 response shape."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from servers.edge.pretoken import claims_for, handler


def event(attributes: dict[str, str]) -> dict[str, Any]:
    # Cognito's documented event for version 2 (trimmed to what the function reads).
    return {
        "version": "2",
        "triggerSource": "TokenGeneration_HostedAuth",
        "region": "us-west-2",
        "userPoolId": "us-west-2_AbCdEf",
        "userName": "8f1c2a4e-1b2c-4d3e-9f00-0123456789ab",
        "request": {"userAttributes": attributes, "scopes": ["tickets/read"]},
        "response": {"claimsAndScopeOverrideDetails": None},
    }


def added(answer: dict[str, Any]) -> dict[str, Any]:
    details = answer["response"]["claimsAndScopeOverrideDetails"]
    claims: dict[str, Any] = details["accessTokenGeneration"]["claimsToAddOrOverride"]
    return claims


def test_a_verified_address_and_the_name_go_into_the_access_token() -> None:
    answer = handler(
        event({"email": "jane@example.com", "email_verified": "true", "name": " Jane Smith "}),
        None,
    )
    assert added(answer) == {
        "email": "jane@example.com",
        "email_verified": True,
        "name": "Jane Smith",
    }
    assert answer["userName"] == "8f1c2a4e-1b2c-4d3e-9f00-0123456789ab"


@given(
    email=st.emails(),
    verified=st.sampled_from(["false", "", "True", "1", None]),
    name=st.text(max_size=300),
)
def test_an_unverified_address_is_never_added(email: str, verified: str | None, name: str) -> None:
    attributes = {"email": email, "name": name}
    if verified is not None:
        attributes["email_verified"] = verified
    assert claims_for(attributes) == {}


@given(email=st.emails(), name=st.text(max_size=500))
def test_a_verified_address_is_added_as_it_is_with_a_bounded_name(email: str, name: str) -> None:
    claims = claims_for({"email": email, "email_verified": "true", "name": name})
    assert claims["email"] == email
    assert claims["email_verified"] is True
    assert len(str(claims.get("name", ""))) <= 200
