"""Signed webhooks, Stripe's scheme: header ``t=<unix>,v1=<hex HMAC-SHA256(secret, "t.payload")>``.

The sender signs with :func:`sign_webhook`; a receiver checks with :func:`verify_webhook`, which
compares in constant time, accepts any of several ``v1`` signatures (a secret being rolled) and
refuses timestamps outside the tolerance, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Webhook-Signature"
DEFAULT_TOLERANCE = 300


class WebhookSignatureError(ValueError):
    """The payload is not what the sender signed, or not recently."""


def _signature(payload: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_webhook(payload: bytes, secret: str, timestamp: int) -> str:
    """The signature header value for ``payload`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_signature(payload, secret, timestamp)}"


def verify_webhook(
    payload: bytes | str,
    header: str,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> None:
    """Raises :class:`WebhookSignatureError` unless ``header`` signs ``payload`` with ``secret``
    at a time within ``tolerance`` seconds of ``now``."""
    body = payload.encode() if isinstance(payload, str) else payload
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookSignatureError("the signature header has no timestamp or no v1 signature")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookSignatureError("the signature timestamp is outside the tolerance")
    expected = _signature(body, secret, timestamp)
    # Every candidate is compared, so the time taken does not tell which one came close.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise WebhookSignatureError("no signature matches the payload")
