"""Cognito's pre-token-generation trigger (event version 2): puts the user's e-mail address, when
verified, and name into the access token, so the ticket server can resolve the token's subject
(a Cognito UUID) to a customer without another call to Cognito (servers/core/subjects.py).

Standard library only, so the function is a small zip that starts fast: Cognito waits for it
on every sign-in and refresh (5 s at most).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Event = dict[str, Any]


def claims_for(attributes: Mapping[str, str]) -> dict[str, str | bool]:
    """The access-token claims for a user's attributes: the address only when Cognito verified
    it (an unverified one could name somebody else's customer record)."""
    claims: dict[str, str | bool] = {}
    email = attributes.get("email", "")
    if email and attributes.get("email_verified") == "true":
        claims["email"] = email
        claims["email_verified"] = True
        name = attributes.get("name", "").strip()
        if name:
            claims["name"] = name[:200]
    return claims


def handler(event: Event, context: object) -> Event:
    """The Lambda entry point: the event back with the claims to add."""
    attributes = event.get("request", {}).get("userAttributes", {})
    claims = claims_for(attributes if isinstance(attributes, dict) else {})
    response = event.setdefault("response", {})
    response["claimsAndScopeOverrideDetails"] = {
        "accessTokenGeneration": {"claimsToAddOrOverride": claims}
    }
    return event
