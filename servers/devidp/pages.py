"""The HTML the browser sees: the login page and error pages. Every echoed value is escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from starlette.responses import HTMLResponse

from servers.core.scopes import (
    CONCIERGE_CHAT,
    PAYMENTS_READ,
    PAYMENTS_WRITE,
    TICKETS_READ,
    TICKETS_WRITE,
)

# What the consent screen says each scope lets the client do, in the customer's words.
SCOPE_DESCRIPTIONS: Mapping[str, str] = {
    TICKETS_READ: "see your tickets, upgrade offers and orders",
    TICKETS_WRITE: "choose upgrades and place orders for you",
    PAYMENTS_READ: "see your payments",
    PAYMENTS_WRITE: "pay for your orders",
    CONCIERGE_CHAT: "chat with the concierge for you",
    "openid": "know who you are",
    "email": "see your e-mail address",
    "profile": "see your name",
}

# No scripts at all; inline styles only; never framed (clickjacking a login form).
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Not "no-referrer": with it Chromium posts the login form with `Origin: null`. The form's
    # own origin leaks nothing, and cross-origin requests (the redirect back) still get none.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_STYLE = """
body { font-family: system-ui, sans-serif; background: #f4f5f7; color: #1d2330; margin: 0; }
main { max-width: 24rem; margin: 4rem auto; background: #fff; padding: 2rem;
       border-radius: 0.75rem; box-shadow: 0 1px 4px rgba(0,0,0,.12); }
h1 { font-size: 1.35rem; margin: 0 0 0.25rem; }
p.note { color: #5b6475; font-size: 0.85rem; margin: 0 0 1.25rem; }
label { display: block; font-size: 0.9rem; margin: 0.9rem 0 0.3rem; }
input[type=email], input[type=password] { width: 100%; box-sizing: border-box;
       padding: 0.55rem 0.65rem; border: 1px solid #c5cad3; border-radius: 0.4rem; font: inherit; }
button { margin-top: 1.4rem; width: 100%; padding: 0.65rem; border: 0; border-radius: 0.4rem;
         background: #2454d6; color: #fff; font: inherit; cursor: pointer; }
.error { background: #fdecec; color: #9b1c1c; padding: 0.6rem 0.75rem; border-radius: 0.4rem; }
ul.scopes { font-size: 0.85rem; color: #3b4456; padding-left: 1.1rem; }
p.client { font-size: 0.95rem; overflow-wrap: anywhere; }
code { font-size: 0.85rem; }
"""


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _client_line(client_id: str, client_name: str | None, self_registered: bool) -> str:
    if client_name is None:
        return f"<strong>{escape(client_id)}</strong>"
    # A self-registered client chose its own name; the id shows who actually asks.
    unverified = " (name given by the application, not verified)" if self_registered else ""
    return (
        f"<strong>{escape(client_name)}</strong>{unverified}, client id "
        f"<code>{escape(client_id)}</code>"
    )


def login_page(
    *,
    hidden: Mapping[str, str],
    client_id: str,
    scopes: Sequence[str],
    client_name: str | None = None,
    self_registered: bool = False,
    redirect_uri: str = "",
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The sign-in and consent form; ``hidden`` carries the authorization request through."""
    fields = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in hidden.items()
    )
    error_html = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    scope_items = "".join(
        f"<li><code>{escape(scope)}</code>"
        + (f": {escape(SCOPE_DESCRIPTIONS[scope])}" if scope in SCOPE_DESCRIPTIONS else "")
        + "</li>"
        for scope in scopes
    )
    destination = (
        f" After you sign in you are sent back to <code>{escape(redirect_uri)}</code>."
        if redirect_uri
        else ""
    )
    body = (
        "<h1>Sign in</h1>"
        '<p class="note">Dev identity provider &mdash; for local development only.</p>'
        f'<p class="client">{_client_line(client_id, client_name, self_registered)} '
        f"asks to act for you.{destination}</p>"
        f'<p class="note">It asks to:</p><ul class="scopes">{scope_items}</ul>'
        f"{error_html}"
        '<form method="post" action="/oauth2/authorize">'
        f"{fields}"
        '<label for="email">E-mail</label>'
        f'<input id="email" name="email" type="email" autocomplete="username" required autofocus '
        f'value="{escape(email)}">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" '
        'autocomplete="current-password" required>'
        '<button type="submit">Sign in and allow</button>'
        "</form>"
    )
    return HTMLResponse(
        _document("Sign in — dev identity provider", body),
        status_code=status_code,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def error_page(
    title: str, detail: str, *, status_code: int, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    body = f'<h1>{escape(title)}</h1><p class="error">{escape(detail)}</p>'
    return HTMLResponse(
        _document(f"{title} — dev identity provider", body),
        status_code=status_code,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )
