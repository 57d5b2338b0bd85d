"""Fixtures of the registration edge's tests: settings, the Cognito stand-in, a registrar."""

from __future__ import annotations

import pytest

from servers.registration.cognito import CognitoAppClients
from servers.registration.front import MetadataDocuments, OAuthFront
from servers.registration.service import REGISTRABLE_SCOPES, Registrar, SourceRateLimiter
from servers.registration.settings import RegistrationSettings
from tests.registration.cognito_local import LocalCognito

POOL = "eu-west-1_Local1234"
# What the infrastructure defines in the pool: every resource server's scopes.
POOL_SCOPES = (
    *REGISTRABLE_SCOPES,
    "payments/refund",
    "data/read",
    "data/write",
    "notify/send",
    "notify/read",
)


def make_settings(**overrides: object) -> RegistrationSettings:
    values: dict[str, object] = {
        "region": "eu-west-1",
        "user_pool_id": POOL,
        "cognito_domain": "https://tickets.auth.eu-west-1.amazoncognito.com",
        "issuer": "https://auth.tickets.example.com",
        **overrides,
    }
    return RegistrationSettings.model_validate(values)


@pytest.fixture
def settings() -> RegistrationSettings:
    return make_settings()


@pytest.fixture
def cognito() -> LocalCognito:
    return LocalCognito(user_pool_id=POOL, scopes=POOL_SCOPES)


@pytest.fixture
def registrar(settings: RegistrationSettings, cognito: LocalCognito) -> Registrar:
    limiter = SourceRateLimiter(settings.rate_per_source, settings.rate_window_seconds)
    return Registrar(settings, CognitoAppClients(cognito.client(), settings), limiter)


@pytest.fixture
def front(settings: RegistrationSettings, cognito: LocalCognito) -> OAuthFront:
    """The OAuth front with no network: for tests of the other routes."""
    app_clients = CognitoAppClients(cognito.client(), settings)
    return OAuthFront(settings, MetadataDocuments(settings, app_clients, SourceRateLimiter(10, 60)))
