"""What may be registered, and the registration itself, apart from HTTP and from boto3.

The redirect-URI policy is the dev identity provider's: https anywhere, plain http only on a
loopback host with any port (RFC 8252 §7.3), never a fragment or user info. Registered clients
are public (``token_endpoint_auth_method: none``, no secret: the code is protected by the PKCE
S256 challenge the MCP clients send, which Cognito checks), use the authorization code grant
only, and get customer scopes only: the service-only scopes (``data/*``, ``notify/*``,
``payments/refund``) stay with the service clients the infrastructure creates.
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol
from urllib.parse import urlsplit

from pydantic import ValidationError

from servers.core.scopes import CUSTOMER_SCOPES
from servers.registration.models import (
    AuthorizationServerMetadata,
    RegisteredClient,
    RegistrationRequest,
)
from servers.registration.settings import RegistrationSettings

# What a registered client may ask for: the customer scopes (ARCHITECTURE, "Scopes").
REGISTRABLE_SCOPES: Final[tuple[str, ...]] = CUSTOMER_SCOPES
# What Cognito's managed login also grants a public client; ``email`` and ``profile`` need
# ``openid`` beside them.
OIDC_SCOPES: Final[tuple[str, ...]] = ("openid", "email", "profile")
SERVICE_ONLY_PREFIXES: Final[tuple[str, ...]] = ("data/", "notify/", "payments/refund")

LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})
# Cognito's limit for one callback URL (CreateUserPoolClient, CallbackURLs member).
MAX_REDIRECT_URI_CHARS: Final = 1024
# ClientName allows ``[\w\s+=,.@-]+`` of up to 128 characters; the prefix marks the clients this
# edge made, so an operator can tell them from the service clients.
CLIENT_NAME_PREFIX: Final = "dcr "
# ASCII: the service's patterns are Java's, where ``\w`` and ``\s`` are ASCII classes.
_NAME_UNSAFE = re.compile(r"[^\w\s+=,.@-]+", re.ASCII)
_HOST_LABELS = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")

INVALID_REDIRECT_URI: Final = "invalid_redirect_uri"
INVALID_CLIENT_METADATA: Final = "invalid_client_metadata"
INVALID_REQUEST: Final = "invalid_request"
RATE_LIMITED: Final = "rate_limited"
TEMPORARILY_UNAVAILABLE: Final = "temporarily_unavailable"
SERVER_ERROR: Final = "server_error"


class RegistrationError(Exception):
    """A refusal as RFC 7591 §3.2.2 words it: an ``error`` code, a description a developer can
    act on (never Cognito's text or a traceback) and the HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class RateLimited(RegistrationError):
    def __init__(self, retry_after: float):
        super().__init__(RATE_LIMITED, "too many registrations from this address", 429)
        self.retry_after = max(1, int(retry_after + 0.999))


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` may not be registered, or None if it may."""
    if len(uri) > MAX_REDIRECT_URI_CHARS:
        return f"is longer than {MAX_REDIRECT_URI_CHARS} characters"
    if not uri.isascii() or any(c <= " " or c in "\x7f\\" for c in uri):
        return "must be ASCII without spaces, control characters or backslashes"
    if "#" in uri:
        return "must not have a fragment (RFC 6749 §3.1.2)"
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return "is not a valid absolute URL"
    if "@" in parts.netloc:
        return "must not carry user information"
    if not uri.startswith(f"{parts.scheme}://") or parts.netloc != parts.netloc.lower():
        # Cognito compares redirect URIs character for character, so the form registered must
        # be the one every client and check here reads the same way.
        return "must write its scheme and host in lower case"
    host = parts.hostname
    if not host or port == 0 or parts.netloc.endswith(":"):
        return "must be an absolute URL with a host (and a port other than 0)"
    if parts.scheme == "https":
        return None if _valid_host(host) else "has an invalid host name"
    if parts.scheme == "http":
        if host in LOOPBACK_HOSTS:
            return None
        return "may use http only on a loopback host (127.0.0.1, [::1] or localhost)"
    return "must use https, or http on a loopback host"


def _cognito_problem(uri: str) -> str | None:
    # Cognito's documented exception to https is http://localhost alone; an IP loopback URI
    # would pass the policy above and then be refused by CreateUserPoolClient.
    parts = urlsplit(uri)
    if parts.scheme == "http" and parts.hostname != "localhost":
        return "uses http on an IP address; Cognito accepts plain http only as http://localhost"
    return None


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _HOST_LABELS.match(host) is not None
    return True


@dataclass(frozen=True)
class ClientRegistration:
    """A validated request: what the Cognito app client will be made of."""

    cognito_name: str
    client_name: str | None
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]


def validate_request(body: bytes, settings: RegistrationSettings) -> ClientRegistration:
    """The registration a request body asks for, or the RFC 7591 refusal of it."""
    if len(body) > settings.max_body_bytes:
        raise RegistrationError(
            INVALID_REQUEST, f"the body exceeds {settings.max_body_bytes} bytes", 413
        )
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RegistrationError(INVALID_CLIENT_METADATA, "the body is not JSON") from None
    if not isinstance(document, dict):
        raise RegistrationError(INVALID_CLIENT_METADATA, "the body is not a JSON object")
    try:
        request = RegistrationRequest.model_validate(document)
    except ValidationError as exc:
        raise RegistrationError(INVALID_CLIENT_METADATA, _first_problem(exc)) from None

    if len(request.redirect_uris) > settings.max_redirect_uris:
        raise RegistrationError(
            INVALID_REDIRECT_URI, f"at most {settings.max_redirect_uris} redirect_uris"
        )
    redirect_uris = _redirect_uris(request.redirect_uris)
    if request.token_endpoint_auth_method not in (None, "none"):
        raise RegistrationError(
            INVALID_CLIENT_METADATA,
            "only public clients are registered: token_endpoint_auth_method must be none "
            "(the client proves itself with PKCE S256)",
        )
    grants = set(request.grant_types or ["authorization_code"])
    if "authorization_code" not in grants or grants - {"authorization_code", "refresh_token"}:
        raise RegistrationError(
            INVALID_CLIENT_METADATA,
            "grant_types may be authorization_code and refresh_token only",
        )
    if set(request.response_types or ["code"]) != {"code"}:
        raise RegistrationError(INVALID_CLIENT_METADATA, "response_types may be code only")
    name = _client_name(request.client_name, settings.max_name_chars)
    return ClientRegistration(
        cognito_name=_cognito_name(name),
        client_name=name,
        redirect_uris=redirect_uris,
        scopes=_scopes(request.scope),
    )


def _redirect_uris(uris: list[str]) -> tuple[str, ...]:
    """The URIs to register: all of them, less the IP-loopback ones Cognito would refuse.

    Any URI against the policy refuses the request. An ``http://127.0.0.1`` one (fine by the
    policy, not by Cognito) is left out when the client offered another it can use instead,
    as VS Code offers ``https://vscode.dev/redirect`` beside its loopback one; the answer's
    ``redirect_uris`` says what was registered (RFC 7591 §2).
    """
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem:
            raise _bad_uri(uri, problem)
    usable = tuple(dict.fromkeys(uri for uri in uris if _cognito_problem(uri) is None))
    if not usable:
        raise _bad_uri(uris[0], _cognito_problem(uris[0]) or "")
    return usable


def _bad_uri(uri: str, problem: str) -> RegistrationError:
    # The URI is the client's own, but is cut short: a description is no place for 1 KiB.
    return RegistrationError(INVALID_REDIRECT_URI, f"redirect URI {uri[:100]!r} {problem}")


def _first_problem(exc: ValidationError) -> str:
    # Only where and what, never the input value: it could be anything the caller sent.
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"


def _client_name(name: str | None, limit: int) -> str | None:
    if name is None:
        return None
    if len(name) > limit:
        raise RegistrationError(INVALID_CLIENT_METADATA, f"client_name exceeds {limit} characters")
    if not name.isprintable():
        raise RegistrationError(INVALID_CLIENT_METADATA, "client_name has unprintable characters")
    return name.strip() or None


def _cognito_name(name: str | None) -> str:
    safe = " ".join(_NAME_UNSAFE.sub(" ", name or "").split()) or "unnamed client"
    return (CLIENT_NAME_PREFIX + safe)[:128]


def _scopes(requested: str | None) -> tuple[str, ...]:
    """The scopes to grant: the customer scopes asked for, or all of them when none are.

    A service-only scope is refused outright, so a client learns at once that it has come to
    the wrong place; other scopes Cognito would not know (``offline_access``, another
    provider's) are left out, and the answer's ``scope`` says what was granted (RFC 7591 §2
    lets the server replace what was asked for).
    """
    asked = list(dict.fromkeys((requested or "").split()))
    forbidden = [s for s in asked if s.startswith(SERVICE_ONLY_PREFIXES)]
    if forbidden:
        raise RegistrationError(
            INVALID_CLIENT_METADATA,
            f"scope {' '.join(s[:40] for s in forbidden)} is for the suite's own services, "
            f"not for registered clients; customer scopes are {' '.join(REGISTRABLE_SCOPES)}",
        )
    granted = [s for s in asked if s in REGISTRABLE_SCOPES or s in OIDC_SCOPES]
    if not any(s in REGISTRABLE_SCOPES for s in granted):
        granted = [*REGISTRABLE_SCOPES, *granted]
    if ("email" in granted or "profile" in granted) and "openid" not in granted:
        granted.append("openid")
    return tuple(granted)


class CognitoClients(Protocol):
    """Where app clients are created (:class:`servers.registration.cognito.CognitoAppClients`)."""

    def create_public_client(self, registration: ClientRegistration) -> str:
        """Create the app client; return its client id. Raises :class:`RegistrationError`."""
        ...


class SourceRateLimiter:
    """At most ``limit`` registrations per source per window, in this process.

    A Lambda instance serves one request at a time and lives minutes to hours, and several run
    side by side, so this is a backstop for a burst reaching one instance, not the bound: the
    bound is API Gateway's throttling and a WAF rate-based rule per IP (see the README).
    Memory is bounded: past ``max_sources`` the oldest source is forgotten.
    """

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_sources: int = 10_000,
    ):
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._max_sources = max_sources
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, source: str) -> float | None:
        """None if ``source`` may register now, else the seconds until it may again."""
        now = self._clock()
        with self._lock:
            started, count = self._windows.pop(source, (now, 0))
            if now - started >= self._window:
                started, count = now, 0
            retry_after = started + self._window - now if count >= self._limit else None
            self._windows[source] = (started, count if retry_after else count + 1)
            while len(self._windows) > self._max_sources:
                self._windows.popitem(last=False)
        return retry_after


class Registrar:
    """Registers clients: limits, validation, the app client, the RFC 7591 answer."""

    def __init__(
        self,
        settings: RegistrationSettings,
        cognito: CognitoClients,
        limiter: SourceRateLimiter,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._settings = settings
        self._cognito = cognito
        self._limiter = limiter
        self._now = now

    def register(self, body: bytes, source: str) -> RegisteredClient:
        retry_after = self._limiter.admit(source)
        if retry_after is not None:
            raise RateLimited(retry_after)
        registration = validate_request(body, self._settings)
        client_id = self._cognito.create_public_client(registration)
        return RegisteredClient(
            client_id=client_id,
            client_id_issued_at=int(self._now().timestamp()),
            client_name=registration.client_name,
            redirect_uris=list(registration.redirect_uris),
            # Cognito hands every code-grant client a refresh token, asked for or not.
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",  # noqa: S106 (a method's name, not a secret)
            scope=" ".join(registration.scopes),
        )


def authorization_server_metadata(settings: RegistrationSettings) -> AuthorizationServerMetadata:
    """The RFC 8414 document the MCP clients discover: this edge's endpoints, Cognito's keys.

    ``issuer`` is this edge's identifier, not Cognito's: a client fetches the document from
    ``ISSUER/.well-known/oauth-authorization-server`` and must find that same ``issuer`` in it
    (RFC 8414 §3.3; the MCP SDK refuses a mismatch), and Cognito's own issuer URL serves
    Cognito's document, which names no registration endpoint. The authorize, token and
    revocation endpoints are the edge's too, because a client using a metadata document sends
    its URL as ``client_id`` to each of them and only the edge can put Cognito's id in its
    place. The tokens' ``iss`` stays Cognito's; a client does not read access tokens.
    """
    return AuthorizationServerMetadata(
        issuer=settings.issuer,
        authorization_endpoint=settings.endpoint("/authorize"),
        token_endpoint=settings.endpoint("/token"),
        revocation_endpoint=settings.endpoint("/revoke"),
        jwks_uri=f"{settings.cognito_issuer}/.well-known/jwks.json",
        registration_endpoint=settings.registration_endpoint,
        scopes_supported=[*REGISTRABLE_SCOPES, *OIDC_SCOPES],
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code", "refresh_token"],
        code_challenge_methods_supported=["S256"],
        # Cognito's token endpoint, behind ours, also takes the service clients' secrets.
        token_endpoint_auth_methods_supported=["none", "client_secret_basic", "client_secret_post"],
        revocation_endpoint_auth_methods_supported=[
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        client_id_metadata_document_supported=True,
    )
