"""The hosted checkout page: a small server-rendered form, no scripts, every echoed value escaped.

``GET /checkout/<id>`` shows what the session needs now: the card form, the 3-D Secure
challenge, or the outcome. ``POST /checkout/<id>`` takes the form (``action`` pay, approve or
deny) and answers with a redirect to the page (post/redirect/get), so a reload never pays twice.

A post must come from this page: its Origin (when the browser sends one) is this server's, and
it carries a CSRF token bound to a cookie only this page sets (``SameSite=Strict``) and to the
session. The card fields go from the form to :class:`~servers.payment.checkout.Checkout` and
nowhere else: never logged, never echoed back into the form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Mapping
from html import escape
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from servers.core.errors import DomainError
from servers.core.ids import id_pattern

from .checkout import CHECKOUT_EXPIRED, CHECKOUT_SESSION_NOT_FOUND, Checkout, CheckoutPage
from .links import CHECKOUT_PREFIX

log = logging.getLogger(__name__)

CSRF_COOKIE = "checkout_csrf"
CSRF_FIELD = "csrf_token"
_SESSION_ID = re.compile(id_pattern("cs"))
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")
# Longer than any field of the form (the CSRF token: 43); a longer value is ignored.
_FIELD_LIMIT = 64

_STYLE = """
body { font-family: system-ui, sans-serif; background: #f4f5f7; color: #1d2330; margin: 0; }
main { max-width: 26rem; margin: 3rem auto; background: #fff; padding: 2rem;
       border-radius: 0.75rem; box-shadow: 0 1px 4px rgba(0,0,0,.12); }
h1 { font-size: 1.35rem; margin: 0 0 0.5rem; }
p.note { color: #4a5263; font-size: 0.85rem; }
label { display: block; font-size: 0.95rem; margin: 0.9rem 0 0.3rem; }
input[type=text] { width: 100%; box-sizing: border-box; padding: 0.55rem 0.65rem;
       border: 1px solid #8a92a3; border-radius: 0.4rem; font: inherit; }
.row { display: flex; gap: 0.75rem; } .row > div { flex: 1; }
label.check { display: flex; gap: 0.5rem; align-items: center; }
button { margin-top: 1.2rem; width: 100%; padding: 0.65rem; border: 0; border-radius: 0.4rem;
         background: #2454d6; color: #fff; font: inherit; cursor: pointer; }
button.secondary { background: #e4e7ec; color: #1d2330; }
:focus-visible { outline: 3px solid #f0a000; outline-offset: 2px; }
.error { background: #fdecec; color: #8a1717; padding: 0.6rem 0.75rem; border-radius: 0.4rem; }
.ok { background: #e8f6ec; color: #155d2b; padding: 0.6rem 0.75rem; border-radius: 0.4rem; }
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

# No scripts at all, the one stylesheet above, forms only to this server, never framed.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Not "no-referrer": with it Chromium posts forms with `Origin: null`.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class CheckoutPages:
    """The page's two routes over a :class:`Checkout`."""

    def __init__(self, checkout: Checkout, *, csrf_key: bytes):
        self.checkout = checkout
        self._csrf_key = csrf_key
        own = urlsplit(checkout.payments.public_url)
        self._origin = f"{own.scheme}://{own.netloc}"
        self._secure = own.scheme == "https"

    async def show(self, request: Request) -> Response:
        session_id = request.path_params["checkout_session_id"]
        if not _SESSION_ID.fullmatch(session_id):
            return _not_found()
        try:
            page = await self.checkout.page(session_id)
        except DomainError as exc:
            if exc.code == CHECKOUT_SESSION_NOT_FOUND:
                return _not_found()
            raise
        cookie = request.cookies.get(CSRF_COOKIE, "")
        fresh = not _COOKIE_VALUE.fullmatch(cookie)
        if fresh:
            cookie = secrets.token_urlsafe(32)
        response = self._render(page, self._token(cookie, session_id), problem=None)
        if fresh:
            response.set_cookie(
                CSRF_COOKIE,
                cookie,
                path=CHECKOUT_PREFIX,
                httponly=True,
                samesite="strict",
                secure=self._secure,
            )
        return response

    async def submit(self, request: Request) -> Response:
        session_id = request.path_params["checkout_session_id"]
        if not _SESSION_ID.fullmatch(session_id):
            return _not_found()
        origin = request.headers.get("origin")
        if origin is not None and origin not in {self._origin, _own_origin(request)}:
            log.warning("checkout post refused: foreign origin")
            return _page(
                "Not allowed",
                "<h1>Not allowed</h1><p>This form was not sent from this payment page.</p>",
                403,
            )
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str) and len(v) <= _FIELD_LIMIT}
        cookie = request.cookies.get(CSRF_COOKIE, "")
        submitted = fields.get(CSRF_FIELD, "")
        if not _COOKIE_VALUE.fullmatch(cookie) or not hmac.compare_digest(
            submitted.encode(), self._token(cookie, session_id).encode()
        ):
            return _page(
                "Page expired",
                "<h1>Please reload the page</h1><p>This form has expired or was not opened here "
                "(the payment page needs cookies). Reload it and try again.</p>",
                403,
            )
        action = fields.get("action", "")
        try:
            if action == "pay":
                await self.checkout.pay(
                    session_id,
                    card_number=fields.get("card_number", ""),
                    exp_month=_number(fields.get("exp_month", "")),
                    exp_year=_number(fields.get("exp_year", "")),
                    cvc=fields.get("cvc", "").strip(),
                    save_card=fields.get("save_card") == "yes",
                )
            elif action in ("approve", "deny"):
                await self.checkout.authenticate(session_id, approve=action == "approve")
            else:
                return _page("Bad request", "<h1>Bad request</h1>", 400)
        except DomainError as exc:
            if exc.code == CHECKOUT_SESSION_NOT_FOUND:
                return _not_found()
            page = await self.checkout.page(session_id)
            if exc.code == CHECKOUT_EXPIRED:
                return self._render(page, "", problem=None)
            # A card the checks refused (number, expiry, CVC): its own words, never the number.
            return self._render(page, submitted, problem=exc.message, status=422)
        return RedirectResponse(request.url.path, status_code=303, headers=dict(SECURITY_HEADERS))

    def _token(self, cookie: str, session_id: str) -> str:
        bound = f"{cookie}|{session_id}".encode()
        digest = hmac.new(self._csrf_key, bound, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _render(
        self, page: CheckoutPage, token: str, *, problem: str | None, status: int = 200
    ) -> HTMLResponse:
        session = page.session
        amount = escape(_money(session.amount_cents, session.currency))
        what = f"<p>{escape(session.description)}</p>" if session.description else ""
        if session.status == "complete":
            back = _link(session.success_url, "Continue")
            body = (
                f'<h1>Payment received</h1><p class="ok" role="status">{amount} paid. Thank '
                "you! You can close this page and go back to where you started.</p>"
                f"{what}{back}"
            )
            return _page("Payment received", body, status)
        if session.status == "expired":
            back = _link(session.cancel_url, "Back")
            body = (
                "<h1>This checkout has expired</h1><p>Nothing was charged. Start the payment "
                f"again from where you came from.</p>{back}"
            )
            return _page("Checkout expired", body, 410)
        hidden = f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(token)}">'
        until = f'<p class="note">This page is open until {session.expires_at:%H:%M} UTC.</p>'
        if page.intent.status == "requires_action":
            body = (
                "<h1>Confirm your payment</h1>"
                f"<p>Your bank asks you to approve a payment of {amount}.</p>{what}"
                '<p class="note">Test 3-D Secure: approve to pay, decline to use another '
                "card.</p>"
                f'<form method="post">{hidden}'
                '<button type="submit" name="action" value="approve">Approve payment</button>'
                '<button type="submit" name="action" value="deny" class="secondary">'
                "Decline</button></form>"
                f"{until}"
            )
            return _page("Confirm your payment", body, status)
        error = page.intent.last_payment_error
        message = problem or (error.message if error else None)
        alert = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
        back = _link(session.cancel_url, "Cancel and go back")
        body = (
            f"<h1>Pay {amount}</h1>{what}{alert}"
            f'<form method="post" novalidate>{hidden}'
            '<input type="hidden" name="action" value="pay">'
            '<label for="card_number">Card number</label>'
            '<input type="text" id="card_number" name="card_number" inputmode="numeric" '
            'autocomplete="cc-number" maxlength="23" required>'
            '<div class="row"><div><label for="exp_month">Expiry month (MM)</label>'
            '<input type="text" id="exp_month" name="exp_month" inputmode="numeric" '
            'autocomplete="cc-exp-month" maxlength="2" required></div>'
            '<div><label for="exp_year">Expiry year (YYYY)</label>'
            '<input type="text" id="exp_year" name="exp_year" inputmode="numeric" '
            'autocomplete="cc-exp-year" maxlength="4" required></div></div>'
            '<label for="cvc">Security code (CVC)</label>'
            '<input type="text" id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" '
            'maxlength="4" required>'
            '<label class="check"><input type="checkbox" id="save_card" name="save_card" '
            'value="yes">Save this card for my next payments</label>'
            f'<button type="submit">Pay {amount}</button></form>{until}{back}'
        )
        return _page(f"Pay {_money(session.amount_cents, session.currency)}", body, status)


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _number(text: str) -> int:
    """A form's digits as a number; anything else as 0, which the card checks refuse."""
    text = text.strip()
    return int(text) if text.isdigit() else 0


def _money(cents: int, currency: str) -> str:
    return f"{currency} {cents // 100:,}.{cents % 100:02d}"


def _link(url: str | None, text: str) -> str:
    return f'<p><a href="{escape(url)}">{escape(text)}</a></p>' if url else ""


def _not_found() -> HTMLResponse:
    return _page(
        "Not found",
        "<h1>Checkout not found</h1><p>This payment link is not valid.</p>",
        404,
    )


def _page(title: str, body: str, status: int) -> HTMLResponse:
    document = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
    return HTMLResponse(document, status_code=status, headers=dict(SECURITY_HEADERS))
