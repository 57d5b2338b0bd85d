"""The HTML the browser sees: the login page and error pages. Every echoed value is escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from starlette.responses import HTMLResponse

# No scripts at all; inline styles only; never framed (clickjacking a login form).
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
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
ul.scopes { font-size: 0.8rem; color: #5b6475; padding-left: 1.1rem; }
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


def login_page(
    *,
    hidden: Mapping[str, str],
    client_id: str,
    scopes: Sequence[str],
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The sign-in form; ``hidden`` carries the authorization request through the POST."""
    fields = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in hidden.items()
    )
    error_html = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    scope_items = "".join(f"<li><code>{escape(scope)}</code></li>" for scope in scopes)
    body = (
        "<h1>Sign in</h1>"
        '<p class="note">Dev identity provider &mdash; for local development only. '
        f"Signing in to <strong>{escape(client_id)}</strong>.</p>"
        f"{error_html}"
        '<form method="post" action="/oauth2/authorize">'
        f"{fields}"
        '<label for="email">E-mail</label>'
        f'<input id="email" name="email" type="email" autocomplete="username" required autofocus '
        f'value="{escape(email)}">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" '
        'autocomplete="current-password" required>'
        '<button type="submit">Sign in</button>'
        "</form>"
        f'<p class="note">Access requested:</p><ul class="scopes">{scope_items}</ul>'
    )
    return HTMLResponse(
        _document("Sign in — dev identity provider", body),
        status_code=status_code,
        headers=dict(SECURITY_HEADERS),
    )


def error_page(title: str, detail: str, *, status_code: int) -> HTMLResponse:
    body = f'<h1>{escape(title)}</h1><p class="error">{escape(detail)}</p>'
    return HTMLResponse(
        _document(f"{title} — dev identity provider", body),
        status_code=status_code,
        headers=dict(SECURITY_HEADERS),
    )
