from __future__ import annotations

import pytest

from servers.devidp.redirects import redirect_uri_matches, redirect_uri_problem


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:33418/callback",
        "http://localhost:6274/oauth/callback",
        "http://[::1]:8080/cb",
        "http://127.0.0.1/callback",
        "https://claude.example/api/mcp/auth_callback",
    ],
)
def test_loopback_http_and_https_are_allowed(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("http://example.com/callback", "loopback"),
        ("http://10.0.0.5:8080/cb", "loopback"),
        ("myapp://callback", "https"),
        ("javascript:alert(1)", "absolute"),
        ("/callback", "absolute"),
        ("https://app.example/cb#frag", "fragment"),
        ("https://user:pw@app.example/cb", "credentials"),
        ("http://127.0.0.1:99999/cb", "absolute"),
        ("https://app.example/" + "a" * 2001, "longer"),
    ],
)
def test_other_redirect_uris_are_refused(uri: str, why: str) -> None:
    problem = redirect_uri_problem(uri)
    assert problem is not None
    assert why in problem


def test_loopback_matches_on_any_port_only() -> None:
    registered = "http://127.0.0.1/callback"
    assert redirect_uri_matches(registered, "http://127.0.0.1:51234/callback")
    assert redirect_uri_matches("http://localhost:6274/cb", "http://localhost:9999/cb")
    assert not redirect_uri_matches(registered, "http://127.0.0.1:51234/other")
    assert not redirect_uri_matches(registered, "http://localhost:51234/callback")
    assert not redirect_uri_matches(registered, "http://127.0.0.1:51234/callback?x=1")
    assert not redirect_uri_matches(registered, "https://127.0.0.1:51234/callback")
    assert not redirect_uri_matches(registered, "http://evil@127.0.0.1:51234/callback")
    # https URIs match exactly, port included.
    assert redirect_uri_matches("https://app.example/cb", "https://app.example/cb")
    assert not redirect_uri_matches("https://app.example/cb", "https://app.example:8443/cb")
