"""The registration policy, apart from Cognito: redirect URIs, metadata, scopes, limits."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.client.auth.utils import validate_metadata_issuer
from mcp.shared.auth import OAuthMetadata
from pydantic import AnyHttpUrl

from servers.registration.service import (
    CLIENT_NAME_PREFIX,
    LOOPBACK_HOSTS,
    REGISTRABLE_SCOPES,
    RegistrationError,
    SourceRateLimiter,
    authorization_server_metadata,
    redirect_uri_problem,
    validate_request,
)
from servers.registration.settings import RegistrationSettings
from tests.registration.conftest import make_settings

SERVICE_ONLY = ("data/read", "data/write", "notify/send", "notify/read", "payments/refund")

PATHS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~/%", max_size=40).map(
    lambda p: "/" + p
)
PORTS = st.integers(min_value=1, max_value=65535)

# Pieces of redirect URIs, benign and hostile, put together at random below.
SCHEMES = st.sampled_from(["http", "https", "HTTP", "Https", "javascript", "ftp", "myapp", ""])
HOSTS = st.sampled_from(
    [
        "localhost",
        "127.0.0.1",
        "[::1]",
        "LOCALHOST",
        "app.example.com",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "localhost@evil.example",
        "evil.example@localhost",
        "evil.example\\@localhost",
        "127.0.0.2",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
        "*.example.com",
        "",
        "exa mple.com",
        "localhost:",
    ]
)
SUFFIXES = st.sampled_from(["", "#frag", "?q=1", "?q=1#x", "\n", " ", "\\x", "\u00e9"])


def body(**metadata: object) -> bytes:
    return json.dumps({"redirect_uris": ["http://localhost:8080/callback"], **metadata}).encode()


def refusal(raw: bytes, cfg: RegistrationSettings | None = None) -> RegistrationError:
    with pytest.raises(RegistrationError) as caught:
        validate_request(raw, cfg or make_settings())
    return caught.value


# Redirect URIs -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    host=st.sampled_from(sorted(LOOPBACK_HOSTS)),
    port=st.none() | PORTS,
    path=PATHS,
)
def test_plain_http_is_allowed_on_loopback_with_any_port(
    host: str, port: int | None, path: str
) -> None:
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    assert redirect_uri_problem(f"http://{netloc}{path}") is None


@settings(max_examples=300, deadline=None)
@given(scheme=SCHEMES, host=HOSTS, port=st.none() | PORTS, path=PATHS, suffix=SUFFIXES)
def test_every_uri_accepted_is_https_or_loopback_http_as_another_parser_reads_it(
    scheme: str, host: str, port: int | None, path: str, suffix: str
) -> None:
    uri = f"{scheme}://{host}{f':{port}' if port else ''}{path}{suffix}"
    if redirect_uri_problem(uri) is not None:
        return
    # httpx's parser (WHATWG-like, unlike urlsplit) must see the same scheme and host: a URI
    # that two parsers read differently could send the code somewhere else.
    url = httpx.URL(uri)
    assert url.scheme in ("http", "https"), uri
    assert not url.fragment, uri
    assert not url.userinfo, uri
    if url.scheme == "http":
        assert url.host in LOOPBACK_HOSTS, uri


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("http://app.example.com/cb", "loopback"),
        ("http://127.0.0.1.evil.example/cb", "loopback"),
        ("https://app.example.com/cb#x", "fragment"),
        ("https://user:pw@app.example.com/cb", "user information"),
        ("http://localhost@evil.example/cb", "user information"),
        ("myapp://callback", "https"),
        ("javascript://localhost/%0aalert(1)", "https"),
        ("https:///cb", "host"),
        ("http://localhost:0/cb", "port"),
        ("http://localhost:99999/cb", "valid absolute URL"),
        ("https://*.example.com/cb", "host name"),
        ("https://app.example.com\\@evil.example/", "backslash"),
        ("HTTP://localhost:8080/cb", "lower case"),
        ("http://LocalHost:8080/cb", "lower case"),
        ("https://app.example.com/" + "a" * 1024, "1024"),
    ],
)
def test_refused_redirect_uris_say_why(uri: str, why: str) -> None:
    problem = redirect_uri_problem(uri)
    assert problem is not None
    assert why in problem


@pytest.mark.parametrize("uri", ["http://127.0.0.1:9000/cb", "http://[::1]:9000/cb"])
def test_ip_loopback_alone_is_refused_for_cognito_with_the_way_out(uri: str) -> None:
    # The shared policy allows it; Cognito documents http://localhost as its only http URL.
    assert redirect_uri_problem(uri) is None
    err = refusal(json.dumps({"redirect_uris": [uri, "http://[::1]:1/x"]}).encode())
    assert err.error == "invalid_redirect_uri"
    assert "http://localhost" in err.description


def test_ip_loopback_beside_a_usable_uri_is_left_out() -> None:
    uris = ["http://127.0.0.1:33418", "https://vscode.dev/redirect", "https://vscode.dev/redirect"]
    registration = validate_request(json.dumps({"redirect_uris": uris}).encode(), make_settings())
    assert registration.redirect_uris == ("https://vscode.dev/redirect",)


def test_one_uri_against_the_policy_refuses_the_request() -> None:
    uris = ["https://app.example.com/cb", "http://evil.example/cb"]
    err = refusal(json.dumps({"redirect_uris": uris}).encode())
    assert err.error == "invalid_redirect_uri"
    assert "evil.example" in err.description


# Request validation ------------------------------------------------------------------------


def test_a_minimal_request_registers_a_public_client_with_every_customer_scope() -> None:
    registration = validate_request(body(), make_settings())
    assert registration.redirect_uris == ("http://localhost:8080/callback",)
    assert registration.scopes == REGISTRABLE_SCOPES
    assert registration.cognito_name == CLIENT_NAME_PREFIX + "unnamed client"


@pytest.mark.parametrize(
    ("raw", "error", "status", "says"),
    [
        (b"not json", "invalid_client_metadata", 400, "not JSON"),
        (b"\xff\xfe", "invalid_client_metadata", 400, "not JSON"),
        (b"[1]", "invalid_client_metadata", 400, "object"),
        (b"{}", "invalid_client_metadata", 400, "redirect_uris"),
        (b'{"redirect_uris": []}', "invalid_client_metadata", 400, "redirect_uris"),
        (b'{"redirect_uris": "http://localhost/cb"}', "invalid_client_metadata", 400, "list"),
        (body(client_name=7), "invalid_client_metadata", 400, "client_name"),
        (
            body(token_endpoint_auth_method="client_secret_basic"),
            "invalid_client_metadata",
            400,
            "none",
        ),
        (body(grant_types=["client_credentials"]), "invalid_client_metadata", 400, "grant"),
        (body(grant_types=["refresh_token"]), "invalid_client_metadata", 400, "grant"),
        (body(grant_types=["authorization_code", "implicit"]), "invalid_client_metadata", 400, ""),
        (body(response_types=["token"]), "invalid_client_metadata", 400, "response_types"),
        (body(client_name="x" * 101), "invalid_client_metadata", 400, "100"),
        (body(client_name="a\x00b"), "invalid_client_metadata", 400, "unprintable"),
        (body(client_name="x" * 9000), "invalid_request", 413, "8192 bytes"),
    ],
)
def test_bad_requests_are_refused_as_rfc_7591_says(
    raw: bytes, error: str, status: int, says: str
) -> None:
    err = refusal(raw)
    assert (err.error, err.status) == (error, status)
    assert says in err.description


def test_the_number_of_redirect_uris_is_bounded() -> None:
    uris = [f"http://localhost:{8000 + i}/cb" for i in range(11)]
    err = refusal(json.dumps({"redirect_uris": uris}).encode())
    assert err.error == "invalid_redirect_uri"
    assert "at most 10" in err.description
    assert (
        len(
            validate_request(
                json.dumps({"redirect_uris": uris[:10]}).encode(), make_settings()
            ).redirect_uris
        )
        == 10
    )


def test_the_standard_grant_and_auth_members_are_accepted() -> None:
    registration = validate_request(
        body(
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            client_name="Claude",
            logo_uri="https://example.com/logo.png",
            application_type="native",
        ),
        make_settings(),
    )
    assert registration.client_name == "Claude"


@pytest.mark.parametrize("scope", SERVICE_ONLY)
def test_service_only_scopes_are_refused(scope: str) -> None:
    err = refusal(body(scope=f"tickets/read {scope}"))
    assert err.error == "invalid_client_metadata"
    assert scope in err.description


def test_scopes_asked_for_are_granted_and_unknown_ones_left_out() -> None:
    asked = "tickets/read offline_access email other/thing"
    registration = validate_request(body(scope=asked), make_settings())
    assert registration.scopes == ("tickets/read", "email", "openid")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*REGISTRABLE_SCOPES, *SERVICE_ONLY, "openid", "email", "profile", "offline_access"]
        )
        | st.text(alphabet="abcdefghij/*", min_size=1, max_size=12),
        max_size=8,
    )
)
def test_granted_scopes_are_customer_or_oidc_scopes_only(asked: list[str]) -> None:
    if any(s.startswith(("data/", "notify/", "payments/refund")) for s in asked):
        with pytest.raises(RegistrationError):
            validate_request(body(scope=" ".join(asked)), make_settings())
        return
    registration = validate_request(body(scope=" ".join(asked)), make_settings())
    assert set(registration.scopes) <= {*REGISTRABLE_SCOPES, "openid", "email", "profile"}
    assert any(s in REGISTRABLE_SCOPES for s in registration.scopes)


# Rate limit --------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_source_gets_its_quota_per_window_and_then_a_retry_after() -> None:
    clock = Clock()
    limiter = SourceRateLimiter(3, 60, clock=clock)
    assert [limiter.admit("198.51.100.7") for _ in range(3)] == [None, None, None]
    clock.now += 20
    assert limiter.admit("198.51.100.7") == pytest.approx(40)
    assert limiter.admit("203.0.113.9") is None  # another source has its own quota
    clock.now += 40
    assert limiter.admit("198.51.100.7") is None  # a new window


def test_the_limiter_forgets_the_oldest_source_past_its_memory() -> None:
    clock = Clock()
    limiter = SourceRateLimiter(1, 60, clock=clock, max_sources=2)
    for source in ("a", "b", "c"):
        assert limiter.admit(source) is None
    assert limiter.admit("c") is not None
    assert limiter.admit("a") is None  # forgotten, so admitted again


# Metadata ----------------------------------------------------------------------------------


def test_metadata_advertises_the_edges_endpoints_and_cognitos_keys() -> None:
    cfg = make_settings()
    document = authorization_server_metadata(cfg).model_dump(mode="json")
    edge = "https://auth.tickets.example.com"
    assert document["registration_endpoint"] == f"{edge}/register"
    assert document["authorization_endpoint"] == f"{edge}/authorize"
    assert document["token_endpoint"] == f"{edge}/token"
    assert document["revocation_endpoint"] == f"{edge}/revoke"
    assert document["jwks_uri"] == (
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Local1234/.well-known/jwks.json"
    )
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["client_id_metadata_document_supported"] is True
    assert not set(SERVICE_ONLY) & set(document["scopes_supported"])


def test_the_mcp_sdk_accepts_the_metadata_for_the_issuer_it_discovered() -> None:
    # The servers' protected-resource metadata names the edge; the SDK reads that URL through
    # pydantic and then insists the document's issuer is the same string (RFC 8414 §3.3).
    cfg = make_settings(issuer="https://auth.tickets.example.com")
    parsed = OAuthMetadata.model_validate_json(authorization_server_metadata(cfg).model_dump_json())
    validate_metadata_issuer(parsed, str(AnyHttpUrl("https://auth.tickets.example.com")))
    assert str(parsed.registration_endpoint) == "https://auth.tickets.example.com/register"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("issuer", "http://auth.tickets.example.com"),
        ("cognito_domain", "http://tickets.auth.eu-west-1.amazoncognito.com"),
        ("cognito_domain", "https://tickets.auth.eu-west-1.amazoncognito.com/login"),
        ("user_pool_id", "not a pool"),
    ],
)
def test_settings_refuse_what_would_make_a_broken_document(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        make_settings(**{field: value})
