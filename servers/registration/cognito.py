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
    from mypy_boto3_cognito_idp.type_defs import CreateUserPoolClientRequestTypeDef

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
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            # Cognito's message goes to the log only: it may name the pool or its settings.
            log.warning("CreateUserPoolClient refused: %s %s", code, exc)
            if code in _REFUSED_METADATA:
                raise RegistrationError(
                    INVALID_CLIENT_METADATA,
                    "the identity provider refused this client metadata; check the redirect "
                    "URIs and scopes",
                ) from None
            if code in _UNAVAILABLE:
                raise RegistrationError(
                    TEMPORARILY_UNAVAILABLE, "registration is unavailable; try again later", 503
                ) from None
            raise RegistrationError(SERVER_ERROR, "registration failed", 500) from None
        except BotoCoreError as exc:
            log.warning("CreateUserPoolClient failed: %s", exc)
            raise RegistrationError(
                TEMPORARILY_UNAVAILABLE, "registration is unavailable; try again later", 503
            ) from None
        client_id = answer["UserPoolClient"].get("ClientId")
        if not client_id:
            raise RegistrationError(SERVER_ERROR, "registration failed", 500)
        log.info("registered %s as %s", registration.cognito_name, client_id)
        return client_id
