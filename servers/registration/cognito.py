"""The boto3 side: one Cognito app client per registration."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from servers.registration.service import (
    INVALID_CLIENT_METADATA,
    SERVER_ERROR,
    TEMPORARILY_UNAVAILABLE,
    ClientRegistration,
    RegistrationError,
)
from servers.registration.settings import RegistrationSettings

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_cognito_idp.type_defs import (
        CreateUserPoolClientRequestTypeDef,
        UpdateUserPoolClientRequestTypeDef,
    )

log = logging.getLogger(__name__)

# Refusals that pass with time or with an operator's action, not the client's: the pool's
# app-client quota, the API's request rate.
_UNAVAILABLE: Final = frozenset(
    {"LimitExceededException", "TooManyRequestsException", "InternalErrorException"}
)
# What the client asked for that Cognito would not take, though our own checks passed it.
_REFUSED_METADATA: Final = frozenset(
    {"InvalidParameterException", "ScopeDoesNotExistException", "InvalidOAuthFlowException"}
)


def create_request(
    registration: ClientRegistration, settings: RegistrationSettings
) -> CreateUserPoolClientRequestTypeDef:
    """The ``CreateUserPoolClient`` request for a registration."""
    rotate = settings.refresh_rotation == "ENABLED"
    return {
        "UserPoolId": settings.user_pool_id,
        "ClientName": registration.cognito_name,
        "GenerateSecret": False,
        "AllowedOAuthFlowsUserPoolClient": True,
        "AllowedOAuthFlows": ["code"],
        "AllowedOAuthScopes": list(registration.scopes),
        "CallbackURLs": list(registration.redirect_uris),
        "SupportedIdentityProviders": list(settings.identity_providers),
        "AccessTokenValidity": settings.access_token_minutes,
        "IdTokenValidity": settings.access_token_minutes,
        "RefreshTokenValidity": settings.refresh_token_days,
        "TokenValidityUnits": {
            "AccessToken": "minutes",
            "IdToken": "minutes",
            "RefreshToken": "days",
        },
        # Managed login needs none of the API sign-in flows; SRP is the one that never sends a
        # password. Without rotation the token endpoint's refresh grant needs
        # ALLOW_REFRESH_TOKEN_AUTH; with rotation Cognito refreshes without it (and refuses that
        # flow on such clients).
        "ExplicitAuthFlows": (
            ["ALLOW_USER_SRP_AUTH"]
            if rotate
            else ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
        ),
        "RefreshTokenRotation": {
            "Feature": settings.refresh_rotation,
            "RetryGracePeriodSeconds": settings.refresh_grace_seconds,
        },
        "EnableTokenRevocation": True,
        "PreventUserExistenceErrors": "ENABLED",
        "AuthSessionValidity": 3,
    }


class CognitoAppClients:
    """Creates the app clients of registrations in one user pool."""

    def __init__(self, client: CognitoIdentityProviderClient, settings: RegistrationSettings):
        self._client = client
        self._settings = settings

    def create_public_client(self, registration: ClientRegistration) -> str:
        try:
            answer = self._client.create_user_pool_client(
                **create_request(registration, self._settings)
            )
        except (ClientError, BotoCoreError) as exc:
            raise _refusal("CreateUserPoolClient", exc) from None
        client_id = answer["UserPoolClient"].get("ClientId")
        if not client_id:
            raise RegistrationError(SERVER_ERROR, "registration failed", 500)
        log.info("registered %s as %s", registration.cognito_name, client_id)
        return client_id

    def ensure_public_client(self, registration: ClientRegistration) -> str:
        """The app client named ``registration.cognito_name``, made to match the registration:
        found by name and updated if its callback URLs or scopes differ, created if absent.

        For metadata documents, whose ``cognito_name`` is derived from the document's URL. Two
        instances resolving a new URL at the same moment may both create one; the lowest client
        id wins from then on, and the other is an unused app client an operator may delete.
        """
        try:
            client_id = self._find(registration.cognito_name)
            if client_id is None:
                return self.create_public_client(registration)
            current = self._client.describe_user_pool_client(
                UserPoolId=self._settings.user_pool_id, ClientId=client_id
            )["UserPoolClient"]
            if current.get("CallbackURLs", []) != list(registration.redirect_uris) or sorted(
                current.get("AllowedOAuthScopes", [])
            ) != sorted(registration.scopes):
                # UpdateUserPoolClient resets what it is not given, so it is given everything.
                self._client.update_user_pool_client(
                    **update_request(client_id, registration, self._settings)
                )
                log.info("updated %s (%s) to its document", registration.cognito_name, client_id)
            return client_id
        except (ClientError, BotoCoreError) as exc:
            raise _refusal("app client lookup", exc) from None

    def _find(self, name: str) -> str | None:
        found: list[str] = []
        pages = self._client.get_paginator("list_user_pool_clients").paginate(
            UserPoolId=self._settings.user_pool_id, PaginationConfig={"PageSize": 60}
        )
        for page in pages:
            found.extend(
                c["ClientId"]
                for c in page.get("UserPoolClients", [])
                if c.get("ClientName") == name and "ClientId" in c
            )
        return min(found) if found else None


def update_request(
    client_id: str, registration: ClientRegistration, settings: RegistrationSettings
) -> UpdateUserPoolClientRequestTypeDef:
    """The ``UpdateUserPoolClient`` request bringing an app client to ``registration``."""
    request = create_request(registration, settings)
    return {
        "ClientId": client_id,
        **{k: v for k, v in request.items() if k != "GenerateSecret"},  # type: ignore[typeddict-item]
    }


def _refusal(operation: str, exc: ClientError | BotoCoreError) -> RegistrationError:
    if isinstance(exc, BotoCoreError):
        log.warning("%s failed: %s", operation, exc)
        return RegistrationError(
            TEMPORARILY_UNAVAILABLE, "registration is unavailable; try again later", 503
        )
    code = exc.response.get("Error", {}).get("Code", "")
    # Cognito's message goes to the log only: it may name the pool or its settings.
    log.warning("%s refused: %s %s", operation, code, exc)
    if code in _REFUSED_METADATA:
        return RegistrationError(
            INVALID_CLIENT_METADATA,
            "the identity provider refused this client metadata; check the redirect "
            "URIs and scopes",
        )
    if code in _UNAVAILABLE:
        return RegistrationError(
            TEMPORARILY_UNAVAILABLE, "registration is unavailable; try again later", 503
        )
    return RegistrationError(SERVER_ERROR, "registration failed", 500)
