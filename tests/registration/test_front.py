"""Client ID Metadata Documents at the edge: /authorize, /token and /revoke in front of Cognito,
against the cognito-idp stand-in and a fake of Cognito's OAuth endpoints (httpx MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.registration.cognito import CognitoAppClients
from servers.registration.front import (
    CACHE_SECONDS,
    MAX_DOCUMENT_BYTES,
    MetadataDocuments,
    OAuthFront,
    document_client_name,
    url_problem,
)
from servers.registration.handler import Edge
from servers.registration.service import Registrar, SourceRateLimiter
from servers.registration.settings import RegistrationSettings
from tests.registration.cognito_local import LocalCognito
from tests.registration.conftest import make_settings

DOC_URL = "https://app.example.org/oauth/client.json"
REDIRECT = "http://localhost:33418/callback"
COGNITO = "https://tickets.auth.eu-west-1.amazoncognito.com"
SECRET_TEXT = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/internal"


def document(**overrides: object) -> dict[str, Any]:
    return {
        "client_id": DOC_URL,
        "client_name": "Desk Assistant",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **overrides,
    }


@dataclass
class World:
    """The documents' host and Cognito's OAuth endpoints, both behind one MockTransport."""

    documents: dict[str, httpx.Response] = field(default_factory=dict)
    cognito_requests: list[httpx.Request] = field(default_factory=list)
    cognito_answer: Callable[[httpx.Request], httpx.Response] | None = None
    fetched: list[str] = field(default_factory=list)

    def serve(self, doc: dict[str, Any], url: str = DOC_URL) -> None:
        self.documents[url] = httpx.Response(200, json=doc)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if str(request.url).startswith(COGNITO):
            request.read()
            self.cognito_requests.append(request)
            if self.cognito_answer is not None:
                return self.cognito_answer(request)
            if request.url.path == "/oauth2/revoke":
                return httpx.Response(200)
            return httpx.Response(
                200,
                json={"access_token": "at", "refresh_token": "rt", "token_type": "Bearer"},
            )
        self.fetched.append(str(request.url))
        return self.documents.get(str(request.url), httpx.Response(404))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world() -> World:
    w = World()
    w.serve(document())
    return w


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_front(
    settings: RegistrationSettings, cognito: LocalCognito, world: World, clock: Clock
) -> OAuthFront:
    app_clients = CognitoAppClients(cognito.client(), settings)
    documents = MetadataDocuments(
        settings,
        app_clients,
        SourceRateLimiter(settings.rate_per_source, settings.rate_window_seconds),
        transport=world.transport(),
        clock=clock,
    )
    return OAuthFront(settings, documents, transport=world.transport())


@pytest.fixture
def edge(settings: RegistrationSettings, cognito: LocalCognito, world: World, clock: Clock) -> Edge:
    registrar = Registrar(
        settings, CognitoAppClients(cognito.client(), settings), SourceRateLimiter(10, 60)
    )
    return Edge(settings, registrar, make_front(settings, cognito, world, clock))


def authorize_query(**overrides: str) -> str:
    params = {
        "response_type": "code",
        "client_id": DOC_URL,
        "redirect_uri": REDIRECT,
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "state": "st4te",
        "scope": "tickets/read data/read openid",
        "resource": "https://tickets.example.com/mcp",
        **overrides,
    }
    return urlencode(params)


def get(path: str, query: str) -> dict[str, Any]:
    return {
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "auth.tickets.example.com"},
        "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "198.51.100.7"}},
    }


def post_form(path: str, form: dict[str, str], **headers: str) -> dict[str, Any]:
    return {
        "rawPath": path,
        "headers": {"Content-Type": "application/x-www-form-urlencoded", **headers},
        "requestContext": {"http": {"method": "POST", "path": path, "sourceIp": "198.51.100.7"}},
        "body": urlencode(form),
        "isBase64Encoded": False,
    }


def document_clients(cognito: LocalCognito) -> list[dict[str, Any]]:
    return [c for c in cognito.clients.values() if c["ClientName"].startswith("cimd ")]


def operations(cognito: LocalCognito) -> list[str]:
    return [name for name, _ in cognito.requests]


def test_the_metadata_names_the_edge_endpoints_and_offers_documents(edge: Edge) -> None:
    answer = edge.handle(get("/.well-known/oauth-authorization-server", ""))
    metadata = json.loads(answer["body"])
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["authorization_endpoint"] == "https://auth.tickets.example.com/authorize"
    assert metadata["token_endpoint"] == "https://auth.tickets.example.com/token"
    assert metadata["revocation_endpoint"] == "https://auth.tickets.example.com/revoke"


def test_authorize_creates_an_app_client_and_redirects_with_its_id(
    edge: Edge, cognito: LocalCognito
) -> None:
    answer = edge.handle(get("/authorize", authorize_query()))
    assert answer["statusCode"] == 302
    assert answer["headers"]["cache-control"] == "no-store"
    location = urlsplit(answer["headers"]["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{COGNITO}/oauth2/authorize"
    [client] = document_clients(cognito)
    assert client["ClientName"] == document_client_name(DOC_URL)
    assert client["CallbackURLs"] == [REDIRECT]
    assert "ClientSecret" not in client
    sent = dict(parse_qsl(location.query))
    expected = dict(parse_qsl(authorize_query()))
    # The client id is Cognito's; the service-only scope is dropped; all else as sent.
    assert sent == {**expected, "client_id": client["ClientId"], "scope": "tickets/read openid"}


def test_a_known_document_reuses_its_app_client_even_on_a_cold_instance(
    settings: RegistrationSettings, cognito: LocalCognito, world: World, clock: Clock
) -> None:
    first = make_front(settings, cognito, world, clock).authorize(authorize_query(), "198.51.100.7")
    # Another Lambda instance: nothing cached, it finds the client by its name.
    second = make_front(settings, cognito, world, clock).authorize(
        authorize_query(), "198.51.100.7"
    )
    assert first == second
    assert len(document_clients(cognito)) == 1
    assert operations(cognito).count("CreateUserPoolClient") == 1


def test_the_app_client_is_found_beyond_the_first_page(
    settings: RegistrationSettings, cognito: LocalCognito, world: World, clock: Clock
) -> None:
    make_front(settings, cognito, world, clock).authorize(authorize_query(), "198.51.100.7")
    app_clients = CognitoAppClients(cognito.client(), settings)
    for n in range(70):  # registered clients made after it push it onto another page
        cognito.clients[f"filler{n:020d}"] = {
            **document_clients(cognito)[0],
            "ClientId": f"filler{n:020d}",
            "ClientName": f"dcr filler {n}",
        }
    cognito.clients = dict(reversed(cognito.clients.items()))
    documents = MetadataDocuments(
        settings, app_clients, SourceRateLimiter(10, 60), transport=world.transport(), clock=clock
    )
    resolved = documents.resolve(DOC_URL, "198.51.100.7")
    assert resolved.cognito_client_id == document_clients(cognito)[0]["ClientId"]
    assert operations(cognito).count("CreateUserPoolClient") == 1


def test_a_changed_document_updates_the_callback_urls_once_the_cache_expires(
    edge: Edge, cognito: LocalCognito, world: World, clock: Clock
) -> None:
    assert edge.handle(get("/authorize", authorize_query()))["statusCode"] == 302
    new_redirect = "https://app.example.org/callback"
    world.serve(document(redirect_uris=[new_redirect]))
    cached = edge.handle(get("/authorize", authorize_query(redirect_uri=new_redirect)))
    assert cached["statusCode"] == 400  # the cached document does not have it yet
    clock.now += CACHE_SECONDS + 1
    answer = edge.handle(get("/authorize", authorize_query(redirect_uri=new_redirect)))
    assert answer["statusCode"] == 302
    [client] = document_clients(cognito)
    assert client["CallbackURLs"] == [new_redirect]
    # Everything else is sent again, since UpdateUserPoolClient resets what it is not given.
    assert client["EnableTokenRevocation"] is True
    assert client["RefreshTokenRotation"]["Feature"] == "ENABLED"
    assert operations(cognito).count("UpdateUserPoolClient") == 1


def test_an_unchanged_document_is_not_written_again(
    edge: Edge, cognito: LocalCognito, clock: Clock
) -> None:
    edge.handle(get("/authorize", authorize_query()))
    clock.now += CACHE_SECONDS + 1
    assert edge.handle(get("/authorize", authorize_query()))["statusCode"] == 302
    assert "UpdateUserPoolClient" not in operations(cognito)


def dripping(chunks: int) -> Iterator[bytes]:
    yield from (b" " for _ in range(chunks))


@pytest.mark.parametrize(
    ("serve", "query", "needle"),
    [
        (
            httpx.Response(200, json=document(client_id="https://other.example.org/c.json")),
            authorize_query(),
            "must equal its URL",
        ),
        (
            httpx.Response(302, headers={"location": "https://evil.example/c.json"}),
            authorize_query(),
            "redirects",
        ),
        (httpx.Response(404), authorize_query(), "answered 404"),
        (httpx.Response(200, content=b"not json"), authorize_query(), "not JSON"),
        (
            httpx.Response(200, content=b"{" + b" " * MAX_DOCUMENT_BYTES + b"}"),
            authorize_query(),
            f"exceeds {MAX_DOCUMENT_BYTES} bytes",
        ),
        (
            httpx.Response(200, json=document(redirect_uris=["http://evil.example/cb"])),
            authorize_query(redirect_uri="http://evil.example/cb"),
            "loopback",
        ),
        (
            httpx.Response(200, json=document(token_endpoint_auth_method="client_secret_basic")),
            authorize_query(),
            "public clients",
        ),
        (
            httpx.Response(200, json=document(scope="data/read")),
            authorize_query(),
            "own services",
        ),
        (
            httpx.Response(200, json=document()),
            authorize_query(code_challenge_method="plain"),
            "PKCE",
        ),
        (
            httpx.Response(200, json=document()),
            authorize_query(client_id="http://app.example.org/c.json"),
            "must be https",
        ),
        (
            httpx.Response(200, json=document()),
            authorize_query(client_id="https://10.0.0.8/c.json"),
            "private address",
        ),
        (
            httpx.Response(200, json=document()),
            authorize_query(client_id="https://app.example.org/"),
            "path",
        ),
    ],
)
def test_a_bad_document_or_request_is_refused_without_redirecting(
    edge: Edge,
    cognito: LocalCognito,
    world: World,
    serve: httpx.Response,
    query: str,
    needle: str,
) -> None:
    world.documents[DOC_URL] = serve
    answer = edge.handle(get("/authorize", query))
    assert answer["statusCode"] in (400, 401)
    assert "location" not in answer["headers"]
    refusal = json.loads(answer["body"])
    assert refusal["error"] in ("invalid_client", "invalid_request")
    assert needle in refusal["error_description"]
    assert not document_clients(cognito)


def test_a_redirect_uri_not_in_the_document_is_refused_without_redirecting(edge: Edge) -> None:
    answer = edge.handle(get("/authorize", authorize_query(redirect_uri="http://localhost:1/x")))
    assert answer["statusCode"] == 400
    assert "location" not in answer["headers"]
    assert "redirect_uri is not" in json.loads(answer["body"])["error_description"]


def test_a_document_dripped_past_the_deadline_is_cut_off(
    edge: Edge, world: World, clock: Clock
) -> None:
    def drip() -> Iterator[bytes]:
        for _ in range(100):
            clock.now += 1
            yield b" "

    world.documents[DOC_URL] = httpx.Response(200, content=drip())
    answer = edge.handle(get("/authorize", authorize_query()))
    assert json.loads(answer["body"])["error_description"].endswith("timed out")


@given(
    st.lists(
        st.tuples(
            st.text(st.characters(codec="utf-8"), min_size=1, max_size=12),
            st.text(st.characters(codec="utf-8"), max_size=30),
        ),
        max_size=6,
        unique_by=lambda kv: kv[0],
    ).filter(lambda kvs: all(k != "client_id" for k, _ in kvs))
)
def test_a_cognito_client_id_passes_through_unchanged(params: list[tuple[str, str]]) -> None:
    settings = make_settings()
    front = OAuthFront(
        settings, MetadataDocuments(settings, Unreachable(), SourceRateLimiter(1, 60))
    )
    query = urlencode([("client_id", "5jm3tq0bq0ffgbvmpoi3q4f2ab"), *params])
    location = urlsplit(front.authorize(query, "198.51.100.7"))
    assert parse_qsl(location.query, keep_blank_values=True) == parse_qsl(
        query, keep_blank_values=True
    )


class Unreachable:
    def ensure_public_client(self, registration: object) -> str:
        raise AssertionError("a Cognito client id needs no app client")


@given(st.text(max_size=80))
def test_only_https_urls_with_a_path_are_document_urls(url: str) -> None:
    if url_problem(url) is None:
        parts = urlsplit(url)
        assert parts.scheme == "https"
        assert parts.hostname
        assert parts.path not in ("", "/")
        assert "#" not in url
        assert "@" not in parts.netloc


def test_token_forwards_with_the_cognito_client_id(
    edge: Edge, cognito: LocalCognito, world: World
) -> None:
    form = {
        "grant_type": "authorization_code",
        "code": "c0de",
        "redirect_uri": REDIRECT,
        "code_verifier": "v" * 43,
        "client_id": DOC_URL,
        "resource": "https://tickets.example.com/mcp",
    }
    answer = edge.handle(post_form("/token", form))
    assert answer["statusCode"] == 200
    assert answer["headers"]["cache-control"] == "no-store"
    assert json.loads(answer["body"])["access_token"] == "at"
    [request] = world.cognito_requests
    assert str(request.url) == f"{COGNITO}/oauth2/token"
    [client] = document_clients(cognito)
    assert dict(parse_qsl(request.content.decode())) == {**form, "client_id": client["ClientId"]}


def test_a_service_clients_secret_is_forwarded_untouched(edge: Edge, world: World) -> None:
    form = {"grant_type": "client_credentials", "scope": "data/read"}
    answer = edge.handle(post_form("/token", form, Authorization="Basic c2VydmljZTpzZWNyZXQ="))
    assert answer["statusCode"] == 200
    [request] = world.cognito_requests
    assert request.headers["authorization"] == "Basic c2VydmljZTpzZWNyZXQ="
    assert dict(parse_qsl(request.content.decode())) == form


@pytest.mark.parametrize(
    ("cognito_answer", "status", "error"),
    [
        (
            lambda _: httpx.Response(
                400, json={"error": "invalid_grant", "error_description": SECRET_TEXT}
            ),
            400,
            "invalid_grant",
        ),
        (lambda _: httpx.Response(400, json={"error": SECRET_TEXT}), 400, "invalid_request"),
        (lambda _: httpx.Response(401, json={"error": "invalid_client"}), 401, "invalid_client"),
        (lambda _: httpx.Response(500, text=SECRET_TEXT), 503, "temporarily_unavailable"),
        (lambda _: httpx.Response(200, content=b"x" * 70_000), 503, "temporarily_unavailable"),
    ],
)
def test_cognitos_refusals_are_mapped_without_its_text(
    edge: Edge,
    world: World,
    cognito_answer: Callable[[httpx.Request], httpx.Response],
    status: int,
    error: str,
) -> None:
    world.cognito_answer = cognito_answer
    form = {"grant_type": "refresh_token", "refresh_token": "rt", "client_id": DOC_URL}
    answer = edge.handle(post_form("/token", form))
    assert answer["statusCode"] == status
    assert json.loads(answer["body"])["error"] == error
    assert SECRET_TEXT not in answer["body"]
    assert "amazoncognito" not in answer["body"]


def test_a_cognito_time_out_is_503(edge: Edge, world: World) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    world.cognito_answer = slow
    answer = edge.handle(post_form("/revoke", {"token": "rt", "client_id": DOC_URL}))
    assert answer["statusCode"] == 503
    assert json.loads(answer["body"])["error"] == "temporarily_unavailable"


def test_revoke_forwards_with_the_cognito_client_id(
    edge: Edge, cognito: LocalCognito, world: World
) -> None:
    answer = edge.handle(post_form("/revoke", {"token": "rt", "client_id": DOC_URL}))
    assert answer["statusCode"] == 200
    [request] = world.cognito_requests
    assert request.url.path == "/oauth2/revoke"
    [client] = document_clients(cognito)
    assert dict(parse_qsl(request.content.decode())) == {
        "token": "rt",
        "client_id": client["ClientId"],
    }


def test_token_bodies_are_bounded_and_must_be_forms(edge: Edge, world: World) -> None:
    big = post_form("/token", {"code": "x" * 20_000, "client_id": "abc"})
    assert edge.handle(big)["statusCode"] == 413
    wrong = {**post_form("/token", {"code": "x"}), "headers": {"Content-Type": "application/json"}}
    assert edge.handle(wrong)["statusCode"] == 415
    assert edge.handle(get("/token", ""))["statusCode"] == 405
    assert not world.cognito_requests


def test_authorize_needs_a_client_id(edge: Edge) -> None:
    answer = edge.handle(get("/authorize", "response_type=code"))
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["error_description"] == "client_id is required"


def test_new_document_urls_are_held_to_the_registration_rate_per_source(
    settings: RegistrationSettings, cognito: LocalCognito, world: World, clock: Clock
) -> None:
    # Anybody can make up URLs, and each new one may cost an app client from the pool's quota.
    edge = Edge(
        settings,
        Registrar(
            settings, CognitoAppClients(cognito.client(), settings), SourceRateLimiter(1, 60)
        ),
        make_front(make_settings(rate_per_source=2), cognito, world, clock),
    )
    for n in range(3):
        url = f"https://app.example.org/clients/{n}.json"
        world.serve(document(client_id=url), url)
        answer = edge.handle(get("/authorize", authorize_query(client_id=url)))
    assert answer["statusCode"] == 429
    assert answer["headers"]["retry-after"]
    assert len(document_clients(cognito)) == 2
    assert len(world.fetched) == 2
    # A document already resolved on this instance costs nothing more.
    again = get("/authorize", authorize_query(client_id="https://app.example.org/clients/0.json"))
    assert edge.handle(again)["statusCode"] == 302


def test_a_scope_with_nothing_left_for_customers_is_not_sent(edge: Edge) -> None:
    answer = edge.handle(get("/authorize", authorize_query(scope="data/read notify/send")))
    sent = dict(parse_qsl(urlsplit(answer["headers"]["location"]).query))
    assert "scope" not in sent
