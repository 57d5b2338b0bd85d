"""Signing in with a real headless browser: Debian's chromium, driven by Playwright.

Chromium is what broke the old form (its post carried `Origin: null` and got 403), so an HTTP
client's idea of a browser is not enough here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium

from .live import serve
from .support import DEV_PASSWORD, callback_query, pkce_pair

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def callback() -> Iterator[tuple[str, list[str]]]:
    """The assistant's loopback listener: its callback URL, and the URLs it was sent to."""
    received: list[str] = []

    async def arrive(request: Request) -> PlainTextResponse:
        received.append(str(request.url))
        return PlainTextResponse("signed in")

    with serve(lambda _: Starlette(routes=[Route("/callback", arrive)])) as base_url:
        yield f"{base_url}/callback", received


def _sign_in(page: Page, authorize_url: str, received: list[str]) -> str:
    """Fill the form as a person would; the URL the browser was sent back to."""
    page.goto(authorize_url)
    page.fill("#email", "john.doe@example.com")
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert "Incorrect e-mail or password." in page.inner_text("main")
    page.fill("#password", DEV_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.inner_text("body") == "signed in"
    assert len(received) == 1
    return received[0]


def test_sign_in_with_chromium(
    live_idp: str, callback: tuple[str, list[str]], tmp_path: Path
) -> None:
    callback_url, received = callback
    with httpx.Client(base_url=live_idp, timeout=10) as http:
        metadata = http.get("/.well-known/oauth-authorization-server").json()
        client_id = http.post(
            metadata["registration_endpoint"],
            json={"client_name": "Browser Test", "redirect_uris": ["http://127.0.0.1/callback"]},
        ).json()["client_id"]
        verifier, challenge = pkce_pair()
        authorize_url = (
            metadata["authorization_endpoint"]
            + "?"
            + urlencode(
                {
                    "response_type": "code",
                    "client_id": client_id,
                    "redirect_uri": callback_url,
                    "scope": "tickets/read tickets/write",
                    "state": "browser",
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                }
            )
        )

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(authorize_url)
                consent = page.inner_text("main")
                assert "Browser Test" in consent
                assert client_id in consent
                assert "tickets/read: see your tickets" in consent
                assert "tickets/write: choose upgrades" in consent
                page.screenshot(path=str(tmp_path / "login.png"))
                returned = _sign_in(page, authorize_url, received)
            finally:
                browser.close()

        query = callback_query(returned)
        assert query["state"] == "browser"
        tokens = http.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "client_id": client_id,
                "redirect_uri": callback_url,
                "code": query["code"],
                "code_verifier": verifier,
            },
        )
        assert tokens.status_code == 200, tokens.text
        assert tokens.json()["refresh_token"]
