"""The web app's concierge chat, real-time order status and recovery, in Debian's chromium
against the real stack, with the whole host (chat API + built app, as `make run` serves them)
on 127.0.0.1:8080 and a scripted model in place of an LLM:

- the chat completes an upgrade: the concierge quotes and asks, the customer answers with the
  button, the held order's payment prompt opens the app's own pay step, the card goes to the
  payment server only, and the confirmation shows;
- an order on screen follows what happens elsewhere (paid behind the page's back, its hold
  expired through the data layer) without a reload (Property 21);
- a call lost to the network shows a retry and keeps the customer's place; an expired token is
  renewed silently, and a session that cannot be renewed sends the customer to sign in and back
  to the same screen, tier and day (Property 17);
- the first paint's time and the initial JavaScript's size are printed (no timed asserts).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from host.api import build_app
from host.loop import Concierge, Limits
from host.memory.postgres import PostgresMemory
from host.providers.base import ModelEvent, ModelRequest
from host.providers.scripted import Call, Say, ScriptedModel
from host.toolbox import McpServer
from host.webapp import DIST, PORT
from host.webapp import build_app as build_web_app
from servers.core.backoff import Backoff
from servers.core.db.connect import ping
from servers.core.db.postgres import PostgresDatabase
from servers.core.settings import WEB_APP_ORIGIN
from tests.browser import needs_chromium
from tests.host.support import settings_for
from tests.http.conftest import HOST, FullStack
from ticketing.procs import port_in_use

from .conftest import PASSWORD, check_screen, needs_build
from .test_upgrade_in_browser import sign_in, ticket_tool

pytestmark = [pytest.mark.http, pytest.mark.browser, needs_chromium, needs_build]

CARD = "4242424242424242"
TIMEOUT_MS = 15_000
# Initial JavaScript budget of the issue: what the first page loads, gzipped.
INITIAL_JS_BUDGET = 200 * 1024
# The paint entry is recorded after the frame, so it is awaited rather than read at once.
FIRST_CONTENTFUL_PAINT = """() => new Promise((resolve) => new PerformanceObserver((list) => {
  const entry = list.getEntriesByName("first-contentful-paint")[0];
  if (entry) resolve(entry.startTime);
}).observe({ type: "paint", buffered: true }))"""


class Switchboard:
    """The host's model: the scripted conversation of whichever scenario is running."""

    def __init__(self) -> None:
        self.model = ScriptedModel([])

    def play(self, plan: list[Any]) -> ScriptedModel:
        self.model = ScriptedModel(plan)
        return self.model

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        return self.model.stream(request)


class _Server(uvicorn.Server):
    """uvicorn, saying when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.listening.set()


async def _serve(full: FullStack, model: Switchboard, started: list[_Server]) -> None:
    settings = settings_for(full)
    db = await PostgresDatabase(full.database_url, min_size=1, max_size=4).open()
    try:
        concierge = Concierge(
            model,
            PostgresMemory(db),
            [McpServer("ticket", settings.ticket_url), McpServer("payment", settings.payment_url)],
            Limits(),
            backoff=Backoff(0.01, 0.05, jitter=0),
        )
        web = build_web_app(
            DIST,
            {
                "issuer": full.base.issuer,
                "client_id": "web",
                "ticket_url": settings.ticket_url,
                "payment_url": settings.payment_url,
            },
        )
        app = build_app(
            settings,
            memory=PostgresMemory(db),
            concierge=concierge,
            health=lambda: ping(db),
            web=web,
        )
        config = uvicorn.Config(app, host=HOST, port=PORT, log_config=None, access_log=False)
        server = _Server(config)
        started.append(server)
        await server.serve()
    finally:
        await db.close()


@pytest.fixture(scope="module")
def model() -> Switchboard:
    return Switchboard()


@pytest.fixture(scope="module")
def web_app(full_stack: FullStack, model: Switchboard) -> Iterator[str]:
    """The whole host on the app's origin: /api/chat with the scripted model, and the built app
    with its /config.json (this module's stand-in for tests/web/conftest.py's app alone)."""
    if port_in_use(PORT):
        pytest.fail(f"port {PORT} is taken: run in a network namespace (unshare --net)")
    started: list[_Server] = []
    thread = threading.Thread(
        target=asyncio.run, args=(_serve(full_stack, model, started),), daemon=True
    )
    thread.start()
    # The list is filled before the server starts listening; the thread dies on a failure.
    while not started:
        thread.join(timeout=0.05)
        assert thread.is_alive(), "the host stopped while starting"
    assert started[0].listening.wait(timeout=30), "the host did not start listening"
    assert httpx.get(f"{WEB_APP_ORIGIN}/health").json()["status"] == "ok"
    try:
        yield WEB_APP_ORIGIN
    finally:
        started[0].should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


def customer_of(full_stack: FullStack, email: str) -> str:
    with psycopg.connect(full_stack.database_url) as conn:
        row = conn.execute(
            "SELECT customer_id FROM data.customers WHERE email = %s", (email,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def open_orders(full_stack: FullStack, customer_id: str, ticket: str) -> list[dict[str, Any]]:
    token = full_stack.customer_token(customer_id)
    orders = ticket_tool(full_stack, token, "list_my_orders", {})["orders"]
    return [o for o in orders if o["ticket_number"] == ticket]


def hold_first_open_day(page: Page, ticket: str, tier_name: str) -> str:
    """From My tickets: the ticket's options, the tier's calendar, its first open day, the
    quote and the hold; returns the day."""
    page.get_by_role("button", name=f"Upgrade options for {ticket}").click()
    page.get_by_role("button", name=f"Choose a date for {tier_name}").click()
    day = page.locator("button.day:not(.closed)").first
    chosen = day.get_attribute("data-date")
    assert chosen is not None
    day.click()
    expect(page.locator(".quote .total")).to_have_text(re.compile(r"^\$\d+\.\d\d$"))
    page.get_by_role("button", name="Hold this upgrade").click()
    expect(page.get_by_role("timer")).to_be_visible()
    return chosen


def test_the_chat_completes_an_upgrade_to_confirmation(
    context: BrowserContext, web_app: str, full_stack: FullStack, model: Switchboard
) -> None:
    ticket = "TKT-JD0001"
    day = (date.today() + timedelta(days=12)).isoformat()
    choice = {"ticket_number": ticket, "tier": "non_stop", "date": day}
    script = model.play(
        [
            [Say("Let me check that day. "), Call("quote_upgrade", choice)],
            [Call("select_upgrade", choice)],
            [Say("Please confirm on your screen.")],
            [Call("select_upgrade", choice)],
            [Say("Your seat is held: pay on the payment step.")],
        ]
    )
    page = context.new_page()
    chat_bodies: list[str] = []
    posted: list[tuple[str, str]] = []

    def record(request: Request) -> None:
        if request.method == "POST":
            posted.append((request.url, request.post_data or ""))
            if request.url.endswith("/api/chat"):
                chat_bodies.append(request.post_data or "")

    page.on("request", record)
    sign_in(page, web_app, full_stack.base.idp.url)
    page.get_by_role("button", name=f"Upgrade options for {ticket}").click()
    page.get_by_role("button", name="Chat with the concierge").click()
    page.get_by_label("Message to the concierge").fill(f"Non-stop on {day}, please")
    page.get_by_role("button", name="Send").click()

    log = page.get_by_role("log", name="Conversation")
    expect(log.get_by_text("Working out the price: done")).to_be_visible()
    expect(log.get_by_text("Please confirm on your screen.")).to_be_visible()
    expect(log.get_by_text("Holding your seat: waiting for your answer")).to_be_visible()
    yes = page.get_by_role("button", name=re.compile(r"^Yes: Hold the non_stop upgrade"))
    expect(yes).to_contain_text(day)
    check_screen(page, "chat-confirm")
    assert open_orders(full_stack, customer_of(full_stack, "john.doe@example.com"), ticket) == []

    yes.click()
    expect(log.get_by_text("Holding your seat: done")).to_be_visible()
    expect(log.get_by_text("Your seat is held: pay on the payment step.")).to_be_visible()
    page.get_by_role("button", name="Open the payment step").click()

    expect(page.get_by_role("heading", name=re.compile("^Pay for Non-stop"))).to_be_visible()
    check_screen(page, "chat-pay")
    page.get_by_label("Card number").fill(CARD)
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill("2034")
    page.get_by_label("Security code").fill("123")
    page.get_by_role("button", name=re.compile(r"^Pay \$")).click()
    expect(page.get_by_role("heading", name="Upgrade confirmed")).to_be_visible()
    code = page.locator(".confirmation-code").inner_text()

    (order,) = open_orders(full_stack, customer_of(full_stack, "john.doe@example.com"), ticket)
    assert (order["status"], order["confirmation_code"], order["visit_date"]) == (
        "confirmed",
        code,
        day,
    )
    # The chat knew the ticket on screen, and one session carried the conversation.
    opening = script.requests[0].messages[-1].text
    assert "[The customer is looking at ticket TKT-JD0001.]" in opening
    sessions = [json.loads(body)["session_id"] for body in chat_bodies]
    assert len(sessions) == 2, chat_bodies
    assert sessions[0] is None
    assert isinstance(sessions[1], str)  # the session the first answer opened
    # The card went to the payment server only; never to the chat.
    with_card = {url for url, body in posted if CARD in body}
    assert with_card == {full_stack.mcp_url(full_stack.payment)}, with_card


def test_an_order_paid_elsewhere_shows_confirmed_without_a_reload(
    context: BrowserContext, web_app: str, full_stack: FullStack
) -> None:
    ticket = "TKT-JD0002"
    page = context.new_page()
    loads: list[str] = []
    page.on("load", lambda p: loads.append(p.url))
    sign_in(page, web_app, full_stack.base.idp.url)
    hold_first_open_day(page, ticket, "Non-stop")

    customer = customer_of(full_stack, "john.doe@example.com")
    (order,) = open_orders(full_stack, customer, ticket)
    paid = ticket_tool(
        full_stack,
        full_stack.customer_token(customer),
        "pay_upgrade",
        {
            "order_id": order["order_id"],
            "payment_method": "pm_card_visa",
            "idempotency_key": f"elsewhere-{uuid.uuid4().hex}",
        },
    )
    assert paid["payment_status"] == "succeeded", paid
    loaded = len(loads)

    expect(page.get_by_role("heading", name="Upgrade confirmed")).to_be_visible()
    expect(page.locator(".confirmation-code")).to_have_text(paid["order"]["confirmation_code"])
    assert len(loads) == loaded  # no reload


def test_a_hold_expired_elsewhere_closes_the_pay_step_without_a_reload(
    context: BrowserContext, web_app: str, full_stack: FullStack
) -> None:
    ticket = "TKT-CW0001"
    page = context.new_page()
    sign_in(page, web_app, full_stack.base.idp.url, "charlie.wilson@example.com")
    hold_first_open_day(page, ticket, "Standard")
    expect(page.get_by_role("button", name=re.compile(r"^Pay \$"))).to_be_visible()

    customer = customer_of(full_stack, "charlie.wilson@example.com")
    (order,) = open_orders(full_stack, customer, ticket)
    with psycopg.connect(full_stack.database_url) as conn:
        conn.execute(
            "UPDATE data.upgrade_orders SET created_at = now() - interval '16 minutes', "
            "hold_expires_at = now() - interval '1 second' WHERE order_id = %s",
            (order["order_id"],),
        )
    expired = httpx.post(
        full_stack.mcp_url(full_stack.base.data),
        headers={
            "Authorization": f"Bearer {full_stack.ops_token()}",
            "Accept": "application/json, text/event-stream",
        },
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "expire_holds", "arguments": {}},
        },
    ).json()["result"]["structuredContent"]
    assert order["order_id"] in [o["order_id"] for o in expired["expired"]]

    expect(page.get_by_role("alert")).to_have_text(
        "Your hold has expired; please choose the date again."
    )
    expect(page.get_by_role("button", name=re.compile(r"^Pay \$"))).to_have_count(0)
    expect(page.get_by_role("timer")).to_have_count(0)


def test_a_lost_connection_shows_a_retry_and_keeps_the_customers_place(
    context: BrowserContext, web_app: str, full_stack: FullStack
) -> None:
    page = context.new_page()
    sign_in(page, web_app, full_stack.base.idp.url, "alice.brown@example.com")
    page.get_by_role("button", name="Upgrade options for TKT-AB0001").click()
    page.get_by_role("button", name="Choose a date for Double Fun").click()
    day = page.locator("button.day:not(.closed)").first
    chosen = day.get_attribute("data-date")
    assert chosen is not None

    context.set_offline(True)
    day.click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("We couldn't reach the service")
    heading = page.get_by_role("heading", name=re.compile("^Double Fun on"))
    expect(heading).to_be_visible()  # still on the chosen tier and day

    context.set_offline(False)
    alert.get_by_role("button", name="Try again").click()
    expect(page.locator(".quote .total")).to_have_text(re.compile(r"^\$\d+\.\d\d$"))
    expect(heading).to_be_visible()

    # The hold too: refused offline with the place kept, then made once back online.
    context.set_offline(True)
    page.get_by_role("button", name="Hold this upgrade").click()
    expect(page.get_by_role("alert")).to_contain_text("We couldn't reach the service")
    context.set_offline(False)
    page.get_by_role("button", name="Hold this upgrade").click()
    expect(page.get_by_role("timer")).to_be_visible()
    customer = customer_of(full_stack, "alice.brown@example.com")
    (order,) = open_orders(full_stack, customer, "TKT-AB0001")
    assert (order["visit_date"], order["tier"]) == (chosen, "double_fun")


def test_an_expired_token_is_renewed_silently_in_place(
    context: BrowserContext, web_app: str, full_stack: FullStack
) -> None:
    page = context.new_page()
    page.clock.install()
    bearers: list[str] = []
    refreshes: list[str] = []

    def record(request: Request) -> None:
        if request.url == full_stack.mcp_url(full_stack.ticket) and request.method == "POST":
            bearers.append(request.headers.get("authorization", ""))
        if request.url.endswith("/oauth2/token"):
            refreshes.append(request.post_data or "")

    page.on("request", record)
    sign_in(page, web_app, full_stack.base.idp.url, "bob.johnson@example.com")
    page.get_by_role("button", name="Upgrade options for TKT-BJ0003").click()
    page.get_by_role("button", name="Choose a date for Standard").click()
    day = page.locator("button.day:not(.closed)").first
    expect(day).to_be_visible()
    signed_in_with = bearers[-1]

    page.clock.fast_forward("01:05:00")  # past the access token's hour (IDP_TOKEN_TTL_SECONDS)
    day.click()
    expect(page.locator(".quote .total")).to_have_text(re.compile(r"^\$\d+\.\d\d$"))
    expect(page.get_by_role("heading", name=re.compile("^Standard on"))).to_be_visible()
    assert any("grant_type=refresh_token" in body for body in refreshes), refreshes
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    assert bearers[-1] != signed_in_with  # the quote went with the renewed token


def test_a_session_that_cannot_be_renewed_signs_in_again_to_the_same_place(
    context: BrowserContext, web_app: str, full_stack: FullStack
) -> None:
    idp = full_stack.base.idp.url
    page = context.new_page()
    page.clock.install()
    sign_in(page, web_app, idp)
    page.get_by_role("button", name="Upgrade options for TKT-JD0003").click()
    page.get_by_role("button", name="Choose a date for Double Fun").click()
    day = page.locator("button.day:not(.closed)").first
    chosen = day.get_attribute("data-date")
    assert chosen is not None
    day.click()
    place = page.get_by_role("heading", name=re.compile("^Double Fun on"))
    expect(place).to_be_visible()
    title = place.inner_text()
    # The quote is in before the clock jumps: a call in flight across the jump would time out.
    total = page.locator(".quote .total")
    expect(total).to_have_text(re.compile(r"^\$\d+\.\d\d$"))

    # The refresh token is refused (revoked, lapsed): the app cannot renew the session.
    page.route(
        f"{idp}/oauth2/token",
        lambda route: route.fulfill(status=400, json={"error": "invalid_grant"}),
    )
    # The jump fires oidc-client-ts's automatic renewal, refused here; then the next call's
    # renewal is refused too, which ends the session.
    with page.expect_response(f"{idp}/oauth2/token"):
        page.clock.fast_forward("01:05:00")
    ended = page.get_by_role("alert").filter(has_text="Your session has ended.")
    hold = page.get_by_role("button", name="Hold this upgrade")
    expect(ended.or_(hold)).to_be_visible()
    if not ended.is_visible():
        expect(hold).to_be_enabled()
        hold.click()
    expect(ended).to_have_text(
        "Your session has ended. Sign in again to continue where you left off."
    )
    page.unroute(f"{idp}/oauth2/token")

    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{idp}/oauth2/authorize**")
    page.fill("#email", "john.doe@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    # Back on the same ticket, tier and day, its quote loaded again.
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    expect(total).to_have_text(re.compile(r"^\$\d+\.\d\d$"))
    expect(page.get_by_role("button", name="Hold this upgrade")).to_be_enabled()
    assert (
        open_orders(full_stack, customer_of(full_stack, "john.doe@example.com"), "TKT-JD0003") == []
    )


def test_first_paint_and_initial_javascript_are_measured(
    context: BrowserContext, web_app: str
) -> None:
    page = context.new_page()
    scripts: list[str] = []
    page.on(
        "response",
        lambda response: scripts.append(response.url) if response.url.endswith(".js") else None,
    )
    page.goto(f"{web_app}/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    fcp = page.evaluate(FIRST_CONTENTFUL_PAINT)
    initial = {url.rsplit("/", 1)[-1] for url in scripts}
    gzipped = sum(len(gzip.compress((DIST / "assets" / name).read_bytes(), 9)) for name in initial)
    assert fcp is not None
    print(f"\nfirst contentful paint {fcp:.0f} ms; initial JavaScript {gzipped / 1024:.1f} kB gz")
    assert initial
    assert all(not name.startswith(("SignedIn", "ChatPanel")) for name in initial)
    assert gzipped <= INITIAL_JS_BUDGET
