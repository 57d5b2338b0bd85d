"""Client ID Metadata Documents in front of Cognito: the edge's own authorize, token and
revocation endpoints.

A client whose ``client_id`` is an https URL sends that URL to every endpoint, and Cognito knows
only its own app-client ids. So the edge resolves the URL to an app client (fetching and
validating the document, then creating or reusing an app client named after a hash of the URL)
and hands the request on with Cognito's id in its place: ``/authorize`` by a redirect, ``/token``
and ``/revoke`` by forwarding the form. A Cognito client id passes through unchanged, so
registered clients may use the same endpoints.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from servers.registration.service import (
    INVALID_REQUEST,
    OIDC_SCOPES,
    REGISTRABLE_SCOPES,
    TEMPORARILY_UNAVAILABLE,
    ClientRegistration,
    RateLimited,
    RegistrationError,
    SourceRateLimiter,
    validate_request,
)
from servers.registration.settings import RegistrationSettings

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES: Final = 5 * 1024
FETCH_TIMEOUT_SECONDS: Final = 5.0
MAX_URL_CHARS: Final = 2000
CACHE_SECONDS: Final = 600
MAX_CACHED: Final = 256
# Cognito's answers are small; a bigger one is not a token response.
MAX_UPSTREAM_BYTES: Final = 64 * 1024
UPSTREAM_TIMEOUT_SECONDS: Final = 10.0
# ClientName of an app client made for a metadata document; the rest is a hash of the URL, so
# that any instance finds the same client for the same URL without a table of its own.
DOCUMENT_CLIENT_PREFIX: Final = "cimd "
INVALID_CLIENT: Final = "invalid_client"
# The RFC 6749 §5.2 and RFC 7009 §2.2.1 codes Cognito's refusals are reduced to; anything else
# it says becomes ``invalid_request``.
_OAUTH_ERRORS: Final = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "unsupported_token_type",
    }
)
_ERROR_DESCRIPTIONS: Final = {
    "invalid_grant": "the code or refresh token is invalid, expired, revoked or was issued to "
    "another client, or the PKCE verifier does not match",
    "invalid_client": "the client is unknown or its credentials are wrong",
    "unauthorized_client": "this client may not use this grant",
    "unsupported_grant_type": "use authorization_code or refresh_token",
    "invalid_scope": "a requested scope is not allowed for this client",
    "unsupported_token_type": "only refresh tokens can be revoked",
}


def is_document_url(client_id: str) -> bool:
    """Whether ``client_id`` names a metadata document rather than a Cognito app client."""
    return client_id.startswith(("https://", "http://"))


def document_client_name(url: str) -> str:
    return DOCUMENT_CLIENT_PREFIX + hashlib.sha256(url.encode()).hexdigest()[:64]


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a ``client_id`` document URL, or None if it can."""
    if len(url) > MAX_URL_CHARS:
        return f"is longer than {MAX_URL_CHARS} characters"
    if not url.isascii() or any(c <= " " or c in "\x7f\\" for c in url):
        return "must be ASCII without spaces, control characters or backslashes"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme != "https":
        return "must be https"
    if not parts.hostname or "@" in parts.netloc:
        return "needs a host and no user information"
    if "#" in url:
        return "must not have a fragment"
    if parts.path in ("", "/") or any(s in (".", "..") for s in parts.path.split("/")):
        return "must have a path without . or .. segments"
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None
    # A literal address must be a public one; names are resolved outside any private network
    # (the function is not in a VPC), so they cannot reach one either.
    return None if address.is_global else "must not name a private address"


class AppClients(Protocol):
    """:class:`servers.registration.cognito.CognitoAppClients`, as the front uses it."""

    def ensure_public_client(self, registration: ClientRegistration) -> str: ...


@dataclass(frozen=True)
class DocumentClient:
    """A metadata document, validated, and the Cognito app client made for it."""

    url: str
    cognito_client_id: str
    registration: ClientRegistration


class MetadataDocuments:
    """Fetches and validates documents and keeps their app clients in step with them.

    Each URL not in this instance's cache counts against the caller's address in ``limiter``:
    a new URL costs a fetch and may cost an app client from the pool's quota, and anybody can
    make up URLs, so document resolution is held to the registration rate.
    """

    def __init__(
        self,
        settings: RegistrationSettings,
        app_clients: AppClients,
        limiter: SourceRateLimiter,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._settings = settings
        self._app_clients = app_clients
        self._limiter = limiter
        self._transport = transport
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, DocumentClient]] = OrderedDict()
        self._lock = threading.Lock()

    def resolve(self, url: str, source: str) -> DocumentClient:
        """The app client for the document at ``url``; the document is fetched again once the
        cached one is ``CACHE_SECONDS`` old, and the app client updated if it changed."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None and cached[0] > now:
            return cached[1]
        problem = url_problem(url)
        if problem:
            raise RegistrationError(INVALID_CLIENT, f"the client_id URL {problem}")
        retry_after = self._limiter.admit(source)
        if retry_after is not None:
            raise RateLimited(retry_after)
        registration = self._validate(url, self._fetch(url))
        client = DocumentClient(
            url, self._app_clients.ensure_public_client(registration), registration
        )
        with self._lock:
            self._cache[url] = (now + CACHE_SECONDS, client)
            self._cache.move_to_end(url)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)
        log.info("client metadata document %s is app client %s", url, client.cognito_client_id)
        return client

    def _validate(self, url: str, body: bytes) -> ClientRegistration:
        # The registration rules, word for word: a document is a registration request that
        # also names itself.
        try:
            registration = validate_request(body, self._settings)
        except RegistrationError as exc:
            raise RegistrationError(
                INVALID_CLIENT, f"the client metadata document: {exc.description}"
            ) from None
        if _client_id_of(body) != url:
            raise RegistrationError(
                INVALID_CLIENT, "the client metadata document's client_id must equal its URL"
            )
        return ClientRegistration(
            cognito_name=document_client_name(url),
            client_name=registration.client_name,
            redirect_uris=registration.redirect_uris,
            scopes=registration.scopes,
        )

    def _fetch(self, url: str) -> bytes:
        deadline = self._clock() + FETCH_TIMEOUT_SECONDS
        try:
            with (
                httpx.Client(
                    transport=self._transport,
                    follow_redirects=False,
                    timeout=httpx.Timeout(FETCH_TIMEOUT_SECONDS),
                    headers={"accept": "application/json"},
                    trust_env=False,
                ) as http,
                http.stream("GET", url) as response,
            ):
                if response.is_redirect:
                    raise RegistrationError(
                        INVALID_CLIENT,
                        "the client metadata document redirects; it must be served at its URL",
                    )
                if response.status_code != 200:
                    raise RegistrationError(
                        INVALID_CLIENT,
                        f"fetching the client metadata document answered {response.status_code}",
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise RegistrationError(
                            INVALID_CLIENT,
                            f"the client metadata document exceeds {MAX_DOCUMENT_BYTES} bytes",
                        )
                    # The whole fetch, not each read: a server dripping bytes is cut off too.
                    if self._clock() > deadline:
                        raise httpx.ReadTimeout("document fetch deadline")
                return bytes(body)
        except httpx.TimeoutException:
            raise RegistrationError(
                INVALID_CLIENT, "fetching the client metadata document timed out"
            ) from None
        except httpx.HTTPError as exc:
            log.info("client metadata document %s: %s", url, exc)
            raise RegistrationError(
                INVALID_CLIENT, "the client metadata document cannot be fetched"
            ) from None


def _client_id_of(body: bytes) -> object:
    document = json.loads(body)
    return document.get("client_id") if isinstance(document, dict) else None


@dataclass(frozen=True)
class Forwarded:
    """What the edge answers after Cognito did: a status and a JSON body (or none)."""

    status: int
    body: bytes


class OAuthFront:
    """``/authorize``, ``/token`` and ``/revoke`` in front of Cognito's ``/oauth2/*``."""

    def __init__(
        self,
        settings: RegistrationSettings,
        documents: MetadataDocuments,
        *,
        transport: httpx.BaseTransport | None = None,
    ):
        self._settings = settings
        self._documents = documents
        self._transport = transport

    def authorize(self, query: str, source: str) -> str:
        """The Cognito ``/oauth2/authorize`` URL to redirect the browser to.

        Refusals are raised, not redirected: until the client and its redirect URI are known to
        go together, sending the browser to the redirect URI would make the edge an open
        redirector (RFC 6749 §4.1.2.1).
        """
        params = parse_qsl(query, keep_blank_values=True)
        client_id = _single(params, "client_id")
        if is_document_url(client_id):
            # Checked first: nothing is fetched or created for a request that cannot succeed.
            if (
                not _optional(params, "code_challenge")
                or _optional(params, "code_challenge_method") != "S256"
            ):
                raise RegistrationError(
                    INVALID_REQUEST, "PKCE with code_challenge_method S256 is required"
                )
            redirect_uri = _single(params, "redirect_uri")
            client = self._documents.resolve(client_id, source)
            if redirect_uri not in client.registration.redirect_uris:
                raise RegistrationError(
                    INVALID_REQUEST, "redirect_uri is not one of the client metadata document's"
                )
            substitutes = {"client_id": client.cognito_client_id}
            scope = _optional(params, "scope")
            if scope is not None:
                substitutes["scope"] = _customer_scope(scope)
            # With no scope left, none is sent: Cognito then grants the client's own scopes.
            params = [
                (k, substitutes.get(k, v))
                for k, v in params
                if not (k == "scope" and not substitutes["scope"])
            ]
        return f"{self._settings.cognito_domain}/oauth2/authorize?{urlencode(params)}"

    def token(self, form: bytes, authorization: str | None, source: str) -> Forwarded:
        return self._forward("/oauth2/token", form, authorization, source)

    def revoke(self, form: bytes, authorization: str | None, source: str) -> Forwarded:
        return self._forward("/oauth2/revoke", form, authorization, source)

    def _forward(self, path: str, form: bytes, authorization: str | None, source: str) -> Forwarded:
        try:
            params = parse_qsl(
                form.decode("ascii"), keep_blank_values=True, strict_parsing=bool(form)
            )
        except (UnicodeDecodeError, ValueError):
            raise RegistrationError(INVALID_REQUEST, "the body is not a form") from None
        client_id = _optional(params, "client_id")
        if client_id is not None and is_document_url(client_id):
            cognito_id = self._documents.resolve(client_id, source).cognito_client_id
            params = [(k, cognito_id if k == "client_id" else v) for k, v in params]
        headers = {"content-type": "application/x-www-form-urlencoded"}
        if authorization:
            headers["authorization"] = authorization  # a service client's secret, untouched
        try:
            with (
                httpx.Client(
                    transport=self._transport,
                    follow_redirects=False,
                    timeout=httpx.Timeout(UPSTREAM_TIMEOUT_SECONDS),
                    trust_env=False,
                ) as http,
                http.stream(
                    "POST",
                    self._settings.cognito_domain + path,
                    content=urlencode(params).encode(),
                    headers=headers,
                ) as response,
            ):
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_UPSTREAM_BYTES:
                        raise httpx.DecodingError("upstream answer too large")
                return _answer(path, response.status_code, bytes(body))
        except httpx.HTTPError as exc:
            log.warning("Cognito %s failed: %s", path, exc)
            raise _unavailable() from None


def _answer(path: str, status: int, body: bytes) -> Forwarded:
    if status == 200:
        # A token response is Cognito's JSON as it is; a revocation answers an empty 200.
        return Forwarded(200, body)
    if 400 <= status < 500:
        try:
            error = json.loads(body).get("error")
        except (ValueError, AttributeError):
            error = None
        # Cognito's own wording goes to the log only; the client gets the code and ours.
        log.info("Cognito %s refused (%s): %s", path, status, body[:500])
        code = error if error in _OAUTH_ERRORS else INVALID_REQUEST
        description = _ERROR_DESCRIPTIONS.get(code, "the request was refused")
        raise RegistrationError(code, description, 401 if code == INVALID_CLIENT else 400)
    log.warning("Cognito %s answered %s", path, status)
    raise _unavailable()


def _unavailable() -> RegistrationError:
    return RegistrationError(
        TEMPORARILY_UNAVAILABLE, "the identity provider is unavailable; try again later", 503
    )


def _single(params: list[tuple[str, str]], name: str) -> str:
    value = _optional(params, name)
    if not value:
        raise RegistrationError(INVALID_REQUEST, f"{name} is required")
    return value


def _optional(params: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in params if k == name]
    if len(values) > 1:
        # RFC 6749 §3.1: parameters must not be repeated.
        raise RegistrationError(INVALID_REQUEST, f"{name} is repeated")
    return values[0] if values else None


def _customer_scope(scope: str) -> str:
    allowed = (*REGISTRABLE_SCOPES, *OIDC_SCOPES)
    return " ".join(s for s in dict.fromkeys(scope.split()) if s in allowed)


def form_of(headers: Mapping[str, str]) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() == (
        "application/x-www-form-urlencoded"
    )
