"""The login form: works from a real browser's post, keeps cross-site posts out with a CSRF
token, names the client and what it asks for, and slows password guessing down."""

from __future__ import annotations

import httpx
import pytest

from servers.devidp.app import CSRF_COOKIE, CSRF_FIELD

from .support import DEV_PASSWORD, JANE, JOHN, FakeClock, FakeUsers, hidden_fields, pkce_pair

INSPECTOR = "mcp-inspector"
CALLBACK = "http://localhost:6274/oauth/callback"


def _params(challenge: str, **overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": INSPECTOR,
        "redirect_uri": CALLBACK,
        "scope": "tickets/read tickets/write",
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }


async def _form(http: httpx.AsyncClient, **overrides: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    page = await http.get("/oauth2/authorize", params=_params(challenge, **overrides))
    assert page.status_code == 200, page.text
    return hidden_fields(page.text)


async def _post(
    http: httpx.AsyncClient,
    form: dict[str, str],
    *,
    email: str = JOHN.email,
    password: str = DEV_PASSWORD,
    origin: str | None = None,
) -> httpx.Response:
    headers = {} if origin is None else {"origin": origin}
    return await http.post(
        "/oauth2/authorize",
        data={**form, "email": email, "password": password},
        headers=headers,
    )


async def test_chromium_style_null_origin_is_accepted(client: httpx.AsyncClient) -> None:
    # Chromium posts a form with `Origin: null` under strict referrer policies; the old check
    # answered 403 "Cross-origin sign-in refused" to every real browser.
    response = await _post(client, await _form(client), origin="null")
    assert response.status_code == 303, response.text
    assert "code=" in response.headers["location"]


async def test_same_host_origin_is_accepted_whatever_the_loopback_name(
    client: httpx.AsyncClient,
) -> None:
    form = await _form(client)
    response = await client.post(
        "/oauth2/authorize",
        data={**form, "email": JOHN.email, "password": DEV_PASSWORD},
        headers={"origin": "http://localhost:9000", "host": "localhost:9000"},
    )
    assert response.status_code == 303, response.text


async def test_the_page_sets_a_lax_http_only_cookie_and_referrer_policy(
    client: httpx.AsyncClient,
) -> None:
    _, challenge = pkce_pair()
    page = await client.get("/oauth2/authorize", params=_params(challenge))
    cookie = page.headers["set-cookie"].lower()
    assert cookie.startswith(f"{CSRF_COOKIE}=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/oauth2/authorize" in cookie
    assert page.headers["referrer-policy"] == "same-origin"
    assert hidden_fields(page.text)[CSRF_FIELD]


async def test_a_post_without_the_cookie_is_refused(
    client: httpx.AsyncClient, users: FakeUsers
) -> None:
    form = await _form(client)
    client.cookies.clear()
    response = await _post(client, form)
    assert response.status_code == 403
    assert "location" not in response.headers
    assert "expired" in response.text
    assert users.lookups == []
    # The page it answers with is a fresh form that works.
    retry = await _post(client, hidden_fields(response.text))
    assert retry.status_code == 303


async def test_a_token_from_another_form_is_refused(client: httpx.AsyncClient) -> None:
    mine = await _form(client)
    other = await _form(client)
    forged = {**mine, CSRF_FIELD: other[CSRF_FIELD]}
    assert (await _post(client, forged)).status_code == 403
    assert (await _post(client, {**mine, CSRF_FIELD: ""})).status_code == 403


async def test_a_post_from_another_site_is_refused(
    client: httpx.AsyncClient, users: FakeUsers
) -> None:
    response = await _post(client, await _form(client), origin="http://evil.example")
    assert response.status_code == 403
    assert users.lookups == []


async def test_the_consent_screen_names_the_client_and_the_scopes(
    client: httpx.AsyncClient,
) -> None:
    registered = await client.post(
        "/oauth2/register",
        json={"redirect_uris": ["http://127.0.0.1/cb"], "client_name": "Desk <Assistant>"},
    )
    client_id = registered.json()["client_id"]
    _, challenge = pkce_pair()
    page = await client.get(
        "/oauth2/authorize",
        params=_params(challenge, client_id=client_id, redirect_uri="http://127.0.0.1:4000/cb"),
    )
    assert page.status_code == 200, page.text
    assert "Desk &lt;Assistant&gt;" in page.text
    assert "not verified" in page.text
    assert client_id in page.text
    assert "http://127.0.0.1:4000/cb" in page.text
    assert "<code>tickets/read</code>: see your tickets" in page.text
    assert "<code>tickets/write</code>: choose upgrades" in page.text
    assert "payments/write" not in page.text


# --- throttling -------------------------------------------------------------------------


async def test_five_wrong_passwords_lock_the_account(
    client: httpx.AsyncClient, clock: FakeClock, users: FakeUsers
) -> None:
    form = await _form(client)
    for _ in range(4):
        assert (await _post(client, form, password="wrong")).status_code == 401
    fifth = await _post(client, form, password="wrong")
    assert fifth.status_code == 429
    assert fifth.headers["retry-after"] == "30"
    assert "Too many failed sign-ins" in fifth.text
    assert "Try again in 30 seconds" in fifth.text

    # Locked: even the right password is not checked, and nothing is looked up.
    lookups = len(users.lookups)
    locked = await _post(client, form)
    assert locked.status_code == 429
    assert len(users.lookups) == lookups
    # Another account from the same address is still fine.
    assert (await _post(client, form, email=JANE.email)).status_code == 303

    clock.now += 30
    assert (await _post(client, form)).status_code == 303


async def test_the_lock_grows_with_each_further_failure(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    form = await _form(client)
    delays = []
    for _ in range(4):
        await _post(client, form, password="wrong")
    for _ in range(7):
        response = await _post(client, form, password="wrong")
        assert response.status_code == 429
        delay = int(response.headers["retry-after"])
        delays.append(delay)
        clock.now += delay
    assert delays == [30, 60, 120, 240, 480, 900, 900]


async def test_a_success_clears_the_account_count(client: httpx.AsyncClient) -> None:
    form = await _form(client)
    for _ in range(4):
        await _post(client, form, password="wrong")
    assert (await _post(client, form)).status_code == 303
    for _ in range(4):
        assert (await _post(client, form, password="wrong")).status_code == 401


async def test_unknown_accounts_are_throttled_alike(client: httpx.AsyncClient) -> None:
    form = await _form(client)
    statuses = [
        (await _post(client, form, email="nobody@example.com")).status_code for _ in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 429]


async def test_many_accounts_from_one_address_lock_the_address(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    form = await _form(client)
    for i in range(19):
        response = await _post(client, form, email=f"guess{i}@example.com", password="x")
        assert response.status_code == 401
    assert (await _post(client, form, email="guess19@example.com")).status_code == 429
    assert (await _post(client, form)).status_code == 429
    clock.now += 30
    assert (await _post(client, form)).status_code == 303


@pytest.mark.parametrize("field", ["email", "password"])
async def test_empty_fields_count_as_failures(client: httpx.AsyncClient, field: str) -> None:
    form = await _form(client)
    values = {"email": JOHN.email, "password": DEV_PASSWORD, field: ""}
    response = await _post(client, form, **values)
    assert response.status_code == 401
