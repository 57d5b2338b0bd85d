"""The Lambda handler, given API Gateway HTTP API (payload 2.0) events."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx2
import pytest
from mcp.client.auth.utils import (
    create_client_registration_request,
    handle_registration_response,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthMetadata
from pydantic import AnyUrl

from servers.registration import handler as lambda_module
from servers.registration.cognito import CognitoAppClients
from servers.registration.front import OAuthFront
from servers.registration.handler import Edge, handler
from servers.registration.service import (
    ClientRegistration,
    Registrar,
    SourceRateLimiter,
    authorization_server_metadata,
)
from servers.registration.settings import RegistrationSettings
from tests.registration.cognito_local import LocalCognito

REGISTRATION = {
    "client_name": "FastMCP Client",
    "redirect_uris": ["http://localhost:41111/callback"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
    "scope": "tickets/read tickets/write",
}


def event(
    method: str,
    path: str,
    body: str | None = None,
    *,
    content_type: str = "application/json",
    base64_body: bool = False,
    source: str = "198.51.100.7",
) -> dict[str, Any]:
    if body is not None and base64_body:
        body = base64.b64encode(body.encode()).decode()
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "headers": {"Content-Type": content_type, "host": "auth.tickets.example.com"},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": source}},
        "body": body,
        "isBase64Encoded": base64_body,
    }


@pytest.fixture
def edge(settings: RegistrationSettings, registrar: Registrar, front: OAuthFront) -> Edge:
    return Edge(settings, registrar, front)


def test_a_client_registers_and_the_sdk_reads_the_answer(edge: Edge, cognito: LocalCognito) -> None:
    answer = edge.handle(event("POST", "/register", json.dumps(REGISTRATION)))
    assert answer["statusCode"] == 201
    assert answer["headers"]["content-type"] == "application/json"
    assert answer["headers"]["cache-control"] == "no-store"
    info = OAuthClientInformationFull.model_validate_json(answer["body"])
    assert info.client_id in cognito.clients
    assert info.client_secret is None
    assert info.token_endpoint_auth_method == "none"
    assert [str(u) for u in info.redirect_uris or []] == REGISTRATION["redirect_uris"]


async def test_the_mcp_sdk_registers_through_its_own_request_and_parser(
    edge: Edge, cognito: LocalCognito
) -> None:
    metadata = OAuthMetadata.model_validate_json(
        edge.handle(event("GET", "/.well-known/oauth-authorization-server"))["body"]
    )
    client_metadata = OAuthClientMetadata(
        client_name="MCP Python SDK",
        redirect_uris=[AnyUrl("http://localhost:3030/callback")],
        scope="tickets/read tickets/write",
        token_endpoint_auth_method="none",
    )
    request = create_client_registration_request(metadata, client_metadata, "unused")
    assert request.url.path == "/register"
    answer = edge.handle(event("POST", request.url.path, request.content.decode()))

    info = await handle_registration_response(
        httpx2.Response(answer["statusCode"], headers=answer["headers"], content=answer["body"])
    )
    assert info.client_id in cognito.clients
    assert info.scope == "tickets/read tickets/write"


def test_a_base64_body_is_decoded(edge: Edge) -> None:
    answer = edge.handle(event("POST", "/register", json.dumps(REGISTRATION), base64_body=True))
    assert answer["statusCode"] == 201


@pytest.mark.parametrize(
    ("request_event", "status", "error"),
    [
        (event("GET", "/register"), 405, "invalid_request"),
        (event("POST", "/elsewhere", "{}"), 404, "invalid_request"),
        (event("POST", "/.well-known/oauth-authorization-server", "{}"), 405, "invalid_request"),
        (event("POST", "/register", "{}", content_type="text/plain"), 415, "invalid_request"),
        (event("POST", "/register", "x" * 20_000), 413, "invalid_request"),
        (
            event("POST", "/register", "!!", base64_body=False) | {"isBase64Encoded": True},
            400,
            "invalid_request",
        ),
        (
            event("POST", "/register", '{"redirect_uris": ["http://evil.example/cb"]}'),
            400,
            "invalid_redirect_uri",
        ),
    ],
)
def test_refusals_are_json_with_an_oauth_error(
    edge: Edge, cognito: LocalCognito, request_event: dict[str, Any], status: int, error: str
) -> None:
    answer = edge.handle(request_event)
    assert answer["statusCode"] == status
    assert answer["headers"]["content-type"] == "application/json"
    assert json.loads(answer["body"])["error"] == error
    assert not cognito.requests


def test_a_source_over_its_quota_gets_429_and_cognito_is_not_called(
    settings: RegistrationSettings, cognito: LocalCognito, front: OAuthFront
) -> None:
    limiter = SourceRateLimiter(2, 3600)
    registrar = Registrar(settings, CognitoAppClients(cognito.client(), settings), limiter)
    edge = Edge(settings, registrar, front)
    for _ in range(2):
        assert (
            edge.handle(event("POST", "/register", json.dumps(REGISTRATION)))["statusCode"] == 201
        )
    answer = edge.handle(event("POST", "/register", json.dumps(REGISTRATION)))
    assert answer["statusCode"] == 429
    assert int(answer["headers"]["retry-after"]) > 0
    assert json.loads(answer["body"])["error"] == "rate_limited"
    assert len(cognito.requests) == 2
    other = event("POST", "/register", json.dumps(REGISTRATION), source="203.0.113.9")
    assert edge.handle(other)["statusCode"] == 201


def test_the_metadata_document_is_served_and_cacheable(
    edge: Edge, settings: RegistrationSettings
) -> None:
    answer = edge.handle(event("GET", "/.well-known/oauth-authorization-server"))
    assert answer["statusCode"] == 200
    assert answer["headers"]["cache-control"] == "public, max-age=3600"
    document = OAuthMetadata.model_validate_json(answer["body"])
    assert document == OAuthMetadata.model_validate(
        authorization_server_metadata(settings).model_dump()
    )


def test_preflight_is_answered_for_browser_clients(edge: Edge) -> None:
    answer = edge.handle(event("OPTIONS", "/register"))
    assert answer["statusCode"] == 204
    assert answer["headers"]["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer["headers"]


class Exploding:
    def create_public_client(self, registration: ClientRegistration) -> str:
        raise RuntimeError("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/secret")


def test_an_unexpected_failure_answers_500_without_internals(
    settings: RegistrationSettings, front: OAuthFront
) -> None:
    edge = Edge(settings, Registrar(settings, Exploding(), SourceRateLimiter(10, 60)), front)
    answer = edge.handle(event("POST", "/register", json.dumps(REGISTRATION)))
    assert answer["statusCode"] == 500
    assert json.loads(answer["body"]) == {
        "error": "server_error",
        "error_description": "registration failed",
    }


def test_the_lambda_entry_point_reads_its_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGISTRATION_REGION", "eu-west-1")
    monkeypatch.setenv("REGISTRATION_USER_POOL_ID", "eu-west-1_Env12345")
    monkeypatch.setenv("REGISTRATION_COGNITO_DOMAIN", "https://t.auth.eu-west-1.amazoncognito.com")
    monkeypatch.setenv("REGISTRATION_ISSUER", "https://auth.tickets.example.com")
    monkeypatch.setenv("REGISTRATION_LOG_LEVEL", "WARNING")
    # Configuring the process's logging would take it from pytest for the tests that follow.
    configured: list[tuple[str, str]] = []
    monkeypatch.setattr(
        lambda_module,
        "configure_logging",
        lambda level, *, service: configured.append((level, service)),
    )
    lambda_module._edge.cache_clear()
    try:
        answer = handler(event("GET", "/.well-known/oauth-authorization-server"), None)
    finally:
        lambda_module._edge.cache_clear()
    assert configured == [("WARNING", "registration")]
    document = json.loads(answer["body"])
    assert document["issuer"] == "https://auth.tickets.example.com/"
    assert document["jwks_uri"].startswith(
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Env12345/"
    )
