"""How long does a whole upgrade take in the browser, from "choose date" to "confirmed"?

``python -m bench.bench_web [--runs 5] [--warmup 1]``

Starts the whole stack as ``ticketing run`` (what ``make run`` runs, the built web app served by
the host on 127.0.0.1:8080, the origin the identity provider's ``web`` client redirects to) in
a throwaway working directory and signs in as john.doe on the identity provider's form in
Debian's chromium (headless, Playwright). Then each upgrade opens TKT-JD0001's Non-stop calendar
and, timed from the click on its first open day, takes the quote, holds the seat and pays with a
card made on the payment server, until the confirmation code is on screen: ``--warmup`` times
untimed (the servers' first calls fetch their own tokens and open their pools), then ``--runs``
times. Between upgrades, untimed, the upgrade is cancelled (refunded) through the ticket server
with john's token, so the same ticket can be upgraded again. Printed: each run, p50, min, max.

Port 8080 must be free: `make bench` runs it in its own network namespace (unshare --net).
Needs the built app (`make web`) and chromium (tests/browser.py says where).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from bench.bench_journey import Stack
from bench.lib import raise_on_term, say
from host.webapp import DIST, PORT
from servers.core.scopes import CUSTOMER_SCOPES
from servers.data.seed import seed_id
from servers.devidp.keys import load_or_create_signing_key
from servers.devidp.settings import IdpSettings
from servers.devidp.tokens import mint_access_token
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from ticketing.procs import free_ports, port_in_use

EMAIL = "john.doe@example.com"
# The seeded customers' password in dev mode, as `ticketing run` starts the provider.
PASSWORD: str = IdpSettings.model_fields["dev_password"].default
TICKET = "TKT-JD0001"
CARD = "4242424242424242"
TIMEOUT_MS = 30_000
ORIGIN = f"http://127.0.0.1:{PORT}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="upgrades measured (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="upgrades first, not measured")
    return parser.parse_args(argv)


def tool(stack: Stack, token: str, name: str, arguments: dict[str, Any]) -> Any:
    reply = httpx.post(
        stack.url("TICKET_PORT"),
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
        },
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        },
        timeout=30,
    )
    result = reply.json()["result"]
    if result.get("isError"):
        raise SystemExit(f"{name} failed: {json.dumps(result['content'])}")
    return result["structuredContent"]


def sign_in(page: Page, idp: str) -> None:
    page.goto(f"{ORIGIN}/")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{idp}/oauth2/authorize**")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{ORIGIN}/")


def upgrade(page: Page) -> float:
    """One upgrade from My tickets; seconds from choosing the date to the confirmation."""
    page.get_by_role("button", name=f"Upgrade options for {TICKET}").click()
    page.get_by_role("button", name="Choose a date for Non-stop").click()
    day = page.locator("button.day:not(.closed)").first
    expect(day).to_be_visible()
    started = time.perf_counter()
    day.click()
    page.get_by_role("button", name="Hold this upgrade").click()
    # Each upgrade types the card in: after the first, a saved card is what the form offers.
    page.get_by_role("radio", name="A new card").check()
    page.get_by_label("Card number").fill(CARD)
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill("2034")
    page.get_by_label("Security code").fill("123")
    page.get_by_role("button", name=re.compile(r"^Pay \$")).click()
    expect(page.locator(".confirmation-code")).not_to_be_empty()
    elapsed = time.perf_counter() - started
    page.get_by_role("button", name="See my orders").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My tickets").click()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_on_term)
    if not (DIST / "index.html").is_file():
        raise SystemExit(f"{DIST} is not built: run `make web`")
    if not CHROMIUM.exists():
        raise SystemExit(f"no chromium at {CHROMIUM}: `make chromium` installs it, or set CHROMIUM")
    if port_in_use(PORT):
        raise SystemExit(f"port {PORT} is taken: run it in a network namespace (unshare --net)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-web-"))
    workdir.chmod(0o755)  # reachable by the user PostgreSQL runs as when this runs as root
    names = (
        "IDP_PORT",
        "DATA_PORT",
        "TICKET_PORT",
        "PAYMENT_PORT",
        "NOTIFY_PORT",
        "MAIL_SINK_PORT",
        "MAIL_SINK_HTTP_PORT",
    )
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    ports["HOST_PORT"] = PORT
    stack = Stack(workdir, ports)
    code = 1
    try:
        code = _run(args, stack)
    except KeyboardInterrupt:
        say("\nInterrupted; stopping the stack.")
        code = 130
    finally:
        say("==> Stopping the stack (SIGTERM)")
        stack.stop()
    if code == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        say(f"The stack's output and logs are in {workdir}")
    return code


def _run(args: argparse.Namespace, stack: Stack) -> int:
    say(f"Web upgrade benchmark: {args.runs} upgrades in headless chromium, no LLM")
    say(f"==> Starting `ticketing run` in {stack.workdir}")
    stack.start()
    stack.wait_ready()
    key = load_or_create_signing_key(stack.workdir / ".dev" / "idp")
    token = mint_access_token(
        key=key,
        issuer=stack.issuer,
        sub=seed_id("cus", EMAIL),
        client_id="web",
        scopes=CUSTOMER_SCOPES,
        ttl=3600,
    )
    idp = stack.issuer.rstrip("/")
    times: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            sign_in(page, idp)
            for run in range(1 - args.warmup, args.runs + 1):
                seconds = upgrade(page)
                if run > 0:
                    times.append(seconds)
                say(f"    {f'run {run}' if run > 0 else 'warm-up'}: {seconds * 1000:7.0f} ms")
                (order,) = [
                    o
                    for o in tool(stack, token, "list_my_orders", {})["orders"]
                    if o["ticket_number"] == TICKET and o["status"] == "confirmed"
                ]
                tool(
                    stack,
                    token,
                    "cancel_upgrade",
                    {"order_id": order["order_id"], "idempotency_key": uuid.uuid4().hex},
                )
        finally:
            browser.close()
    say(
        f'"choose date" -> "confirmed" in the browser: p50 {statistics.median(times) * 1000:.0f} ms'
        f" (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, {len(times)} runs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
