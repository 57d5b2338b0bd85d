"""Registrations as Cognito app clients, against the model-checked ``cognito-idp`` stand-in."""

from __future__ import annotations

import json
import string
from functools import cache

import botocore.session
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from servers.registration.cognito import CognitoAppClients
from servers.registration.service import (
    REGISTRABLE_SCOPES,
    Registrar,
    RegistrationError,
    SourceRateLimiter,
    validate_request,
)
from servers.registration.settings import RegistrationSettings
from tests.registration.cognito_local import LocalCognito, model_violations
from tests.registration.conftest import POOL, POOL_SCOPES, make_settings

REQUEST = json.dumps(
    {
        "client_name": "Inspector",
        "redirect_uris": ["http://localhost:6274/oauth/callback", "https://app.example.com/cb"],
        "scope": "tickets/read tickets/write",
    }
).encode()


def registrar_over(cognito: LocalCognito, cfg: RegistrationSettings) -> Registrar:
    limiter = SourceRateLimiter(1000, 60)
    return Registrar(cfg, CognitoAppClients(cognito.client(), cfg), limiter)


def test_a_registration_becomes_a_public_code_grant_app_client(
    registrar: Registrar, cognito: LocalCognito
) -> None:
    answer = registrar.register(REQUEST, "198.51.100.7")

    created = cognito.client().describe_user_pool_client(
        UserPoolId=POOL, ClientId=answer.client_id
    )["UserPoolClient"]
    assert "ClientSecret" not in created
    assert created["ClientName"] == "dcr Inspector"
    assert created["AllowedOAuthFlows"] == ["code"]
    assert created["AllowedOAuthFlowsUserPoolClient"] is True
    assert created["AllowedOAuthScopes"] == ["tickets/read", "tickets/write"]
    assert created["CallbackURLs"] == [
        "http://localhost:6274/oauth/callback",
        "https://app.example.com/cb",
    ]
    assert created["SupportedIdentityProviders"] == ["COGNITO"]
    assert created["EnableTokenRevocation"] is True
    assert created["RefreshTokenRotation"] == {"Feature": "ENABLED", "RetryGracePeriodSeconds": 10}
    assert (created["AccessTokenValidity"], created["RefreshTokenValidity"]) == (60, 30)
    assert created["TokenValidityUnits"] == {
        "AccessToken": "minutes",
        "IdToken": "minutes",
        "RefreshToken": "days",
    }
    # Rotation replaces the REFRESH_TOKEN_AUTH flow, which Cognito refuses on rotating clients.
    assert "ALLOW_REFRESH_TOKEN_AUTH" not in created["ExplicitAuthFlows"]

    assert answer.token_endpoint_auth_method == "none"
    assert answer.scope == "tickets/read tickets/write"
    assert answer.redirect_uris == created["CallbackURLs"]


def test_without_rotation_the_refresh_flow_is_enabled(cognito: LocalCognito) -> None:
    cfg = make_settings(refresh_rotation="DISABLED", refresh_token_days=7)
    answer = registrar_over(cognito, cfg).register(REQUEST, "198.51.100.7")
    created = cognito.clients[answer.client_id]
    assert created["RefreshTokenRotation"]["Feature"] == "DISABLED"
    assert "ALLOW_REFRESH_TOKEN_AUTH" in created["ExplicitAuthFlows"]
    assert created["RefreshTokenValidity"] == 7


@cache
def shared_pool() -> tuple[LocalCognito, Registrar]:
    # One pool for every example: a boto3 client costs more to make than a hundred calls.
    cognito = LocalCognito(user_pool_id=POOL, scopes=POOL_SCOPES, max_clients=10_000)
    return cognito, registrar_over(cognito, make_settings())


HOSTS = st.sampled_from(["localhost", "127.0.0.1", "[::1]", "app.example.com", "a-b.example.io"])
NAMES = st.none() | st.text(max_size=120)


@settings(max_examples=150, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https"]),
    hosts=st.lists(HOSTS, min_size=1, max_size=4),
    port=st.none() | st.integers(1, 65535),
    path=st.text(
        alphabet=string.ascii_letters + string.digits + "/-._~%!$&'()*+,;=:@", max_size=60
    ),
    name=NAMES,
    scopes=st.lists(st.sampled_from([*REGISTRABLE_SCOPES, "openid", "profile", "x"]), max_size=6),
)
def test_whatever_the_policy_accepts_cognito_accepts(
    scheme: str,
    hosts: list[str],
    port: int | None,
    path: str,
    name: str | None,
    scopes: list[str],
) -> None:
    cognito, registrar = shared_pool()
    cfg = make_settings()
    uris = [f"{scheme}://{h}{f':{port}' if port else ''}/{path}" for h in hosts]
    raw = json.dumps({"redirect_uris": uris, "client_name": name, "scope": " ".join(scopes)})
    try:
        validate_request(raw.encode(), cfg)
    except RegistrationError:
        return
    # No refusal of Cognito's may come back for a request we let through: the stand-in checks
    # the model's patterns and lengths and Cognito's documented callback rules.
    answer = registrar.register(raw.encode(), "198.51.100.7")
    assert answer.client_id in cognito.clients


CLIENT_NAME_SHAPE = (
    botocore.session.get_session()
    .get_service_model("cognito-idp")
    .operation_model("CreateUserPoolClient")
    .input_shape.members["ClientName"]
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=100))
def test_any_client_name_becomes_a_cognito_name_the_model_allows(name: str) -> None:
    raw = json.dumps({"redirect_uris": ["https://a.example/cb"], "client_name": name}).encode()
    if not name.isprintable():
        with pytest.raises(RegistrationError, match="unprintable"):
            validate_request(raw, make_settings())
        return
    registration = validate_request(raw, make_settings())
    assert not list(model_violations(registration.cognito_name, CLIENT_NAME_SHAPE))


@pytest.mark.parametrize(
    ("code", "error", "status"),
    [
        ("LimitExceededException", "temporarily_unavailable", 503),
        ("TooManyRequestsException", "temporarily_unavailable", 503),
        ("InternalErrorException", "temporarily_unavailable", 503),
        ("InvalidParameterException", "invalid_client_metadata", 400),
        ("ScopeDoesNotExistException", "invalid_client_metadata", 400),
        ("NotAuthorizedException", "server_error", 500),
        ("ResourceNotFoundException", "server_error", 500),
    ],
)
def test_cognito_refusals_become_oauth_errors_without_its_text(
    registrar: Registrar, cognito: LocalCognito, code: str, error: str, status: int
) -> None:
    cognito.fail_next = code
    with pytest.raises(RegistrationError) as caught:
        registrar.register(REQUEST, "198.51.100.7")
    assert (caught.value.error, caught.value.status) == (error, status)
    assert "failure requested" not in caught.value.description
    assert code not in caught.value.description
    assert not cognito.clients


def test_a_full_pool_answers_503_until_an_operator_acts(settings: RegistrationSettings) -> None:
    cognito = LocalCognito(user_pool_id=POOL, scopes=POOL_SCOPES, max_clients=1)
    registrar = registrar_over(cognito, settings)
    registrar.register(REQUEST, "198.51.100.7")
    with pytest.raises(RegistrationError) as caught:
        registrar.register(REQUEST, "203.0.113.9")
    assert caught.value.status == 503


def test_a_pool_the_edge_is_not_configured_for_is_a_server_error(cognito: LocalCognito) -> None:
    registrar = registrar_over(cognito, make_settings(user_pool_id="eu-west-1_Other"))
    with pytest.raises(RegistrationError) as caught:
        registrar.register(REQUEST, "198.51.100.7")
    assert caught.value.error == "server_error"
    assert "eu-west-1_Other" not in caught.value.description


# The stand-in holds callers to the model ----------------------------------------------------


def test_the_stand_in_refuses_what_the_model_refuses(cognito: LocalCognito) -> None:
    client = cognito.client()
    with pytest.raises(ParamValidationError):
        client.create_user_pool_client(UserPoolId=POOL, ClientName="x", GenerateSecret="no")  # type: ignore[arg-type]
    for bad in (
        {"ClientName": "has/slash"},
        {"ClientName": "x" * 129},
        {"ClientName": "x", "ExplicitAuthFlows": ["BOGUS"]},
        {"ClientName": "x", "AccessTokenValidity": 86401},
        {"ClientName": "x", "CallbackURLs": ["https://a.example/" + "b" * 1024]},
    ):
        with pytest.raises(ClientError) as caught:
            client.create_user_pool_client(UserPoolId=POOL, **bad)
        assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    assert not cognito.clients


def test_the_stand_in_keeps_cognitos_callback_rules(cognito: LocalCognito) -> None:
    client = cognito.client()
    for url in ("http://127.0.0.1:8000/cb", "https://a.example/cb#f", "/relative"):
        with pytest.raises(ClientError):
            client.create_user_pool_client(
                UserPoolId=POOL, ClientName="x", AllowedOAuthFlows=["code"], CallbackURLs=[url]
            )
    with pytest.raises(ClientError) as caught:
        client.create_user_pool_client(
            UserPoolId=POOL, ClientName="x", AllowedOAuthScopes=["tickets/admin"]
        )
    assert caught.value.response["Error"]["Code"] == "ScopeDoesNotExistException"
