"""The checkout page's path, which the infrastructure routes to the server's code in AWS
(infra/ticketing_infra/checkout.py) from servers/payment/links.py: a link the server hands out
matches the route its pages are served on (test_pages.py opens and posts to such links)."""

from __future__ import annotations

from starlette.routing import compile_path

from servers.payment.links import CHECKOUT_PATH, CHECKOUT_PREFIX, checkout_url


def test_a_checkout_link_is_on_the_pages_route() -> None:
    pattern, _, _ = compile_path(CHECKOUT_PATH)
    url = checkout_url("https://payment.mcp.example.com/", "cs_abc")
    assert url == "https://payment.mcp.example.com/checkout/cs_abc"
    path = url.removeprefix("https://payment.mcp.example.com")
    assert path.startswith(CHECKOUT_PREFIX)
    matched = pattern.fullmatch(path)
    assert matched is not None
    assert matched["checkout_session_id"] == "cs_abc"
