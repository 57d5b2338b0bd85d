"""The customer web app in a real browser against the real stack: tests/http/conftest.py's
``full_stack`` plus the built app (web/dist) served on 127.0.0.1:8080, the origin the dev
identity provider's ``web`` client redirects to and the servers' CORS allow-list names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, sync_playwright

from servers.core.settings import WEB_APP_ORIGIN
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.http.conftest import (
    HOST,
    FullStack,
    ServerProcess,
    _child_env,
    _wait_healthy,
    full_stack,
)
from ticketing.procs import port_in_use
from ticketing.webapp import DIST, PORT

__all__ = ["full_stack"]  # the stack fixture, shared rather than copied

CUSTOMER_EMAIL = "john.doe@example.com"
LATE_CUSTOMER_EMAIL = "jane.smith@example.com"  # TKT-JS0001's visit is today: inside 24 hours
PASSWORD = "Passw0rd!"

needs_build = pytest.mark.skipif(
    not (DIST / "index.html").is_file(),
    reason=f"{DIST} is not built: run `make web` (make test builds it first)",
)


@pytest.fixture(scope="module")
def web_app(full_stack: FullStack) -> str:
    """The built app and its /config.json pointing at this stack; stopped with the stack."""
    if port_in_use(PORT):
        pytest.fail(
            f"port {PORT} is taken: run the browser tests in their own network namespace "
            "(unshare --net), as the README says",
            pytrace=False,
        )
    workdir: Path = full_stack.base.workdir
    server = ServerProcess(
        "web app",
        ["-m", "ticketing.webapp"],
        _child_env(
            {
                "WEB_HOST": HOST,
                "WEB_PORT": str(PORT),
                "WEB_ISSUER": full_stack.base.issuer,
                "WEB_TICKET_URL": full_stack.mcp_url(full_stack.ticket),
                "WEB_PAYMENT_URL": full_stack.mcp_url(full_stack.payment),
            }
        ),
        workdir / "web.log",
        cwd=workdir,
        port=PORT,
    )
    full_stack.base.servers.append(server)
    server.start()
    _wait_healthy([server])
    assert server.url == WEB_APP_ORIGIN
    return server.url


@pytest.fixture(scope="module")
def customer_id(full_stack: FullStack) -> str:
    with psycopg.connect(full_stack.database_url) as conn:
        row = conn.execute(
            "SELECT customer_id FROM data.customers WHERE email = %s", (CUSTOMER_EMAIL,)
        ).fetchone()
    assert row is not None, f"{CUSTOMER_EMAIL} is not in the seed data"
    return str(row[0])


@pytest.fixture(scope="module")
def browser(web_app: str) -> Iterator[Browser]:
    """Started after the stack: Playwright's sync API keeps an event loop running in this
    thread, and the stack's set-up runs its own."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
