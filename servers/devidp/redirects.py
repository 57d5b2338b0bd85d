"""Which redirect URIs a client may have, and when a presented one matches a registered one.

Native apps (desktop assistants, the MCP SDKs) listen on a loopback port chosen at run time, so
RFC 8252 §7.3 has the server accept any port on a loopback redirect URI. Everything else must be
https: a code sent over plain http to a non-loopback host could be read on the way.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit

MAX_REDIRECT_URI_LENGTH = 2000

# The loopback host names of RFC 8252 §7.3 (and §8.3's advice against "localhost" is about
# resolution by the client, which is its business: clients send it, so we accept it).
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and any loopback IP address (``127.0.0.0/8``, ``::1``)."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split(uri: str) -> SplitResult | None:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    return parts


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a redirect URI, or None when it can."""
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        return f"is longer than {MAX_REDIRECT_URI_LENGTH} characters"
    parts = _split(uri)
    if parts is None or not parts.hostname:
        return "is not an absolute URL"
    if parts.fragment or "#" in uri:
        return "must not have a fragment (RFC 6749 §3.1.2)"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and parts.hostname.lower() in _LOOPBACK_HOSTS:
        return None
    return "must be https, or http on a loopback address (127.0.0.1, localhost or [::1])"


def redirect_uri_matches(registered: str, presented: str) -> bool:
    """Exact match, except that a loopback http URI matches on any port (RFC 8252 §7.3)."""
    if registered == presented:
        return True
    mine, theirs = _split(registered), _split(presented)
    if mine is None or theirs is None or mine.scheme != "http" or theirs.scheme != "http":
        return False
    host = mine.hostname
    if host is None or host.lower() not in _LOOPBACK_HOSTS:
        return False
    return (
        theirs.hostname == host
        and theirs.username is None
        and theirs.password is None
        and theirs.path == mine.path
        and theirs.query == mine.query
        and not theirs.fragment
    )
