"""The dev identity provider's HTTP app: discovery, JWKS, token endpoint, login page."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from servers.core.scopes import ALL_SCOPES
from servers.devidp import pages
from servers.devidp.clients import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    OIDC_SCOPES,
    REFRESH_TOKEN,
    Client,
    ClientRegistry,
)
from servers.devidp.codes import CodeGrant, CodeStore
from servers.devidp.keys import SigningKey, b64url, load_or_create_signing_key
from servers.devidp.metadata_documents import (
    ClientMetadataDocuments,
    ClientMetadataError,
    looks_like_document_url,
)
from servers.devidp.redirects import is_loopback_host
from servers.devidp.refresh import RefreshError, RefreshGrant, RefreshTokenStore
from servers.devidp.registration import (
    REGISTERED_CLIENTS_FILE,
    RegisteredClients,
    RegistrationError,
    parse_client_metadata,
    registration_response,
)
from servers.devidp.settings import IdpSettings
from servers.devidp.throttle import LoginThrottle, RateLimiter
from servers.devidp.tokens import mint_access_token, mint_id_token
from servers.devidp.users import UserDirectory, UserDirectoryError, normalize_email

__all__ = ["UserDirectory", "build_app", "discovery_document"]

logger = logging.getLogger(__name__)

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a URL path, not a secret
AUTHORIZE_PATH = "/oauth2/authorize"
REGISTER_PATH = "/oauth2/register"
REVOKE_PATH = "/oauth2/revoke"
JWKS_PATH = "/.well-known/jwks.json"
MAX_BODY_BYTES = 64 * 1024
MAX_REGISTRATION_BYTES = 16 * 1024
MAX_FORM_FIELDS = 32
CSRF_COOKIE = "idp_csrf"
CSRF_FIELD = "csrf_token"
# Browser apps on this machine (the Inspector's UI, a local web app) register and exchange codes
# from their own origin; the endpoints they call take no cookies, so this grants them nothing
# beyond what a native client has.
LOOPBACK_ORIGINS = r"http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?"

# RFC 7636 §4.1 and §4.2: a verifier is 43-128 unreserved characters; an S256 challenge is the
# base64url SHA-256 of one, always 43 characters.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")

# Carried through the login form as hidden fields, in this order.
_AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
)


def discovery_document(settings: IdpSettings) -> dict[str, Any]:
    """OpenID Provider / RFC 8414 authorization server metadata."""
    issuer = settings.issuer
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "authorization_endpoint": base + AUTHORIZE_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "jwks_uri": base + JWKS_PATH,
        "scopes_supported": [*ALL_SCOPES, *OIDC_SCOPES],
        "registration_endpoint": base + REGISTER_PATH,
        "revocation_endpoint": base + REVOKE_PATH,
        "client_id_metadata_document_supported": True,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        # RFC 9207: the issuer rides along with every authorization response, so a client
        # talking to several providers can tell whose code it got (mix-up attacks).
        "authorization_response_iss_parameter_supported": True,
        "grant_types_supported": [AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


class FormError(ValueError):
    pass


async def _read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; empty values count as absent (RFC 6749 §3.1).

    Parsed here rather than with ``request.form()`` so that no multipart parser is needed.
    """
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormError("the body must be application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(
            (await request.body()).decode("utf-8"),
            keep_blank_values=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError("the form body is malformed") from exc
    return _single_valued(pairs)


def _single_valued(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in pairs:
        if not value:
            continue
        if name in values:
            raise FormError(f"parameter {name} is repeated")
        values[name] = value
    return values


def _parse_scope(value: str | None, default: Sequence[str]) -> tuple[str, ...]:
    if value is None:
        return tuple(default)
    return tuple(dict.fromkeys(value.split()))


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    return uri + ("&" if urlsplit(uri).query else "?") + urlencode(params)


def _oauth_error(
    error: str, description: str, status_code: int = 400, *, basic_challenge: bool = False
) -> JSONResponse:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if basic_challenge:
        headers["WWW-Authenticate"] = 'Basic realm="dev identity provider"'
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status_code,
        headers=headers,
    )


class _ClientAuthError(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


@dataclass(frozen=True)
class _AuthorizationRequest:
    client: Client
    redirect_uri: str
    state: str | None
    scopes: tuple[str, ...]
    code_challenge: str
    nonce: str | None
    params: Mapping[str, str]


class _UnknownClient(Exception):
    """No usable client has this id; the message says why (safe to show)."""


def _client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


class _IdentityProvider:
    def __init__(
        self,
        settings: IdpSettings,
        key: SigningKey,
        clients: ClientRegistry,
        users: UserDirectory,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.key = key
        self.clients = clients
        self.users = users
        self.clock = clock
        self.codes = CodeStore(clock)
        self.registered = RegisteredClients(settings.key_dir / REGISTERED_CLIENTS_FILE)
        self.documents = ClientMetadataDocuments(clock=clock, allow_loopback_http=settings.dev_mode)
        self.refresh_tokens = RefreshTokenStore(clock, settings.refresh_token_ttl_seconds)
        self.login_throttle = LoginThrottle(clock)
        self.registrations = RateLimiter(
            clock, limit=settings.registrations_per_hour, window_seconds=3600
        )
        self._csrf_key = key.derive_secret("login-form-csrf").encode("ascii")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def _find_client(self, client_id: str) -> Client:
        """Our own clients, then self-registered ones, then a metadata document's."""
        client = self.clients.get(client_id) or self.registered.get(client_id)
        if client is not None:
            return client
        if looks_like_document_url(client_id):
            try:
                return await self.documents.get(client_id)
            except ClientMetadataError as exc:
                raise _UnknownClient(str(exc)) from exc
        raise _UnknownClient(f"no client is registered as {client_id!r}")

    # --- metadata -------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(discovery_document(self.settings))

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.key.jwks(), headers={"Cache-Control": "public, max-age=300"})

    # --- dynamic client registration (RFC 7591) -------------------------------------------

    async def register(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            return _oauth_error("invalid_client_metadata", "the body must be application/json")
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_REGISTRATION_BYTES:
            return _oauth_error(
                "invalid_client_metadata",
                f"client metadata is limited to {MAX_REGISTRATION_BYTES} bytes",
                413,
            )
        wait = self.registrations.acquire(_client_address(request))
        if wait:
            response = _oauth_error(
                "too_many_requests",
                f"too many client registrations from this address; try again in {wait} s",
                429,
            )
            response.headers["Retry-After"] = str(wait)
            return response
        body = await request.body()
        if len(body) > MAX_REGISTRATION_BYTES:
            return _oauth_error(
                "invalid_client_metadata",
                f"client metadata is limited to {MAX_REGISTRATION_BYTES} bytes",
                413,
            )
        try:
            metadata = parse_client_metadata(json.loads(body))
            issued_at = int(self.clock())
            client = self.registered.register(metadata, issued_at)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return _oauth_error("invalid_client_metadata", "the body is not valid JSON")
        except RegistrationError as exc:
            return _oauth_error(exc.error, exc.description)
        logger.info(
            "registered client %s (%s) for %s",
            client.client_id,
            client.client_name or "no name",
            " ".join(client.redirect_uris),
        )
        return JSONResponse(
            registration_response(client, issued_at),
            status_code=201,
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    # --- token endpoint -------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        try:
            form = await _read_form(request)
        except FormError as exc:
            return _oauth_error("invalid_request", str(exc))
        grant_type = form.get("grant_type")
        if grant_type is None:
            return _oauth_error("invalid_request", "grant_type is required")
        if grant_type not in (CLIENT_CREDENTIALS, AUTHORIZATION_CODE, REFRESH_TOKEN):
            return _oauth_error(
                "unsupported_grant_type", f"grant_type {grant_type} is not supported"
            )
        try:
            client = await self._authenticate_client(request, form)
        except _ClientAuthError as exc:
            return exc.response
        if grant_type not in client.grant_types:
            return _oauth_error(
                "unauthorized_client",
                f"client {client.client_id} may not use grant_type {grant_type}",
            )
        if grant_type == CLIENT_CREDENTIALS:
            return self._client_credentials(client, form)
        if grant_type == REFRESH_TOKEN:
            return self._refresh(client, form)
        return self._authorization_code(client, form)

    async def _authenticate_client(self, request: Request, form: Mapping[str, str]) -> Client:
        authorization = request.headers.get("authorization")
        body_id = form.get("client_id")
        body_secret = form.get("client_secret")
        if authorization is not None:
            client_id, secret = self._basic_credentials(authorization)
            if body_secret is not None:
                raise _ClientAuthError(
                    _oauth_error("invalid_request", "use one client authentication method")
                )
            if body_id is not None and body_id != client_id:
                raise _ClientAuthError(
                    _oauth_error("invalid_request", "client_id differs from the Basic credentials")
                )
            client = self.clients.authenticate(client_id, secret)
            if client is None:
                raise _ClientAuthError(
                    _oauth_error(
                        "invalid_client", "client authentication failed", 401, basic_challenge=True
                    )
                )
            return client
        if body_id is None:
            raise _ClientAuthError(
                _oauth_error("invalid_client", "client authentication is required", 401)
            )
        if body_secret is not None:
            authenticated = self.clients.authenticate(body_id, body_secret)
            if authenticated is None:
                raise _ClientAuthError(
                    _oauth_error("invalid_client", "client authentication failed", 401)
                )
            return authenticated
        try:
            public = await self._find_client(body_id)
        except _UnknownClient as exc:
            raise _ClientAuthError(_oauth_error("invalid_client", str(exc), 401)) from exc
        if public.confidential:
            raise _ClientAuthError(
                _oauth_error("invalid_client", "client authentication failed", 401)
            )
        return public

    @staticmethod
    def _basic_credentials(authorization: str) -> tuple[str, str]:
        scheme, _, param = authorization.partition(" ")
        failure = _ClientAuthError(
            _oauth_error("invalid_client", "malformed Basic credentials", 401, basic_challenge=True)
        )
        if scheme.lower() != "basic":
            raise failure
        try:
            decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise failure from exc
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise failure
        # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        return unquote_plus(client_id), unquote_plus(secret)

    def _client_credentials(self, client: Client, form: Mapping[str, str]) -> Response:
        scopes = _parse_scope(form.get("scope"), client.scopes)
        refused = [scope for scope in scopes if scope not in client.scopes]
        if refused:
            return _oauth_error(
                "invalid_scope",
                f"client {client.client_id} may not request {' '.join(refused)}",
            )
        access_token = mint_access_token(
            key=self.key,
            issuer=self.settings.issuer,
            sub=client.client_id,
            client_id=client.client_id,
            scopes=scopes,
            ttl=self.settings.token_ttl_seconds,
            now=self._now(),
        )
        logger.info("client_credentials token for %s: %s", client.client_id, " ".join(scopes))
        return self._token_response({"access_token": access_token})

    def _authorization_code(self, client: Client, form: Mapping[str, str]) -> Response:
        code = form.get("code")
        redirect_uri = form.get("redirect_uri")
        verifier = form.get("code_verifier")
        if code is None or redirect_uri is None or verifier is None:
            return _oauth_error(
                "invalid_request", "code, redirect_uri and code_verifier are required"
            )
        grant = self.codes.redeem(code)
        if grant is None:
            return _oauth_error("invalid_grant", "the code is unknown, expired or was already used")
        if grant.client_id != client.client_id:
            return _oauth_error("invalid_grant", "the code was issued to another client")
        if grant.redirect_uri != redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri differs from the authorization's")
        if not _VERIFIER.fullmatch(verifier):
            return _oauth_error("invalid_grant", "code_verifier is malformed (RFC 7636 §4.1)")
        challenge = b64url(hashlib.sha256(verifier.encode("ascii")).digest())
        if not hmac.compare_digest(challenge, grant.code_challenge):
            return _oauth_error("invalid_grant", "code_verifier does not match code_challenge")
        signed_in = RefreshGrant(
            client_id=client.client_id,
            customer=grant.customer,
            scopes=grant.scopes,
            auth_time=grant.auth_time,
        )
        body = self._user_tokens(client, signed_in, nonce=grant.nonce)
        # Clients allowed the refresh_token grant get a refresh token with every sign-in: MCP
        # clients do not ask for offline_access, and without one a desktop assistant would
        # send its user to the login page every time the access token expires.
        if REFRESH_TOKEN in client.grant_types:
            body["refresh_token"] = self.refresh_tokens.issue(signed_in)
        logger.info(
            "authorization_code token for %s via %s", grant.customer.email, client.client_id
        )
        return self._token_response(body)

    def _refresh(self, client: Client, form: Mapping[str, str]) -> Response:
        token = form.get("refresh_token")
        if token is None:
            return _oauth_error("invalid_request", "refresh_token is required")
        granted = self.refresh_tokens.peek(token)
        requested = _parse_scope(form.get("scope"), granted.scopes if granted else ())
        if granted is not None and granted.client_id == client.client_id:
            wider = [scope for scope in requested if scope not in granted.scopes]
            if wider:
                # RFC 6749 §6: a refresh may narrow the scope, never widen it. Checked before
                # rotating, so the token stays usable for a retry with the right scope.
                return _oauth_error(
                    "invalid_scope", f"scope not granted at sign-in: {' '.join(wider)}"
                )
        try:
            grant, next_token = self.refresh_tokens.rotate(token, client.client_id)
        except RefreshError as exc:
            return _oauth_error("invalid_grant", str(exc))
        scopes = requested or grant.scopes
        narrowed = RefreshGrant(
            client_id=grant.client_id,
            customer=grant.customer,
            scopes=scopes,
            auth_time=grant.auth_time,
        )
        body = self._user_tokens(client, narrowed, nonce=None)
        body["refresh_token"] = next_token
        logger.info("refreshed token for %s via %s", grant.customer.email, client.client_id)
        return self._token_response(body)

    def _user_tokens(
        self, client: Client, grant: RefreshGrant, *, nonce: str | None
    ) -> dict[str, Any]:
        customer = grant.customer
        now = self._now()
        body: dict[str, Any] = {
            "access_token": mint_access_token(
                key=self.key,
                issuer=self.settings.issuer,
                sub=customer.customer_id,
                client_id=client.client_id,
                scopes=grant.scopes,
                username=customer.email,
                ttl=self.settings.token_ttl_seconds,
                auth_time=grant.auth_time,
                now=now,
            ),
            "scope": " ".join(grant.scopes),
        }
        if "openid" in grant.scopes:
            body["id_token"] = mint_id_token(
                key=self.key,
                issuer=self.settings.issuer,
                sub=customer.customer_id,
                client_id=client.client_id,
                email=customer.email,
                name=customer.full_name if "profile" in grant.scopes else None,
                nonce=nonce,
                ttl=self.settings.token_ttl_seconds,
                auth_time=grant.auth_time,
                now=now,
            )
        return body

    def _token_response(self, body: dict[str, Any]) -> Response:
        body["token_type"] = "Bearer"  # noqa: S105 - a token type, not a secret
        body["expires_in"] = self.settings.token_ttl_seconds
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    # --- revocation (RFC 7009) ------------------------------------------------------------

    async def revoke(self, request: Request) -> Response:
        """Revoke a refresh token and every token rotated from the same sign-in.

        Access tokens are self-contained JWTs that no server asks about, so they cannot be
        recalled; they expire after ``token_ttl_seconds``. As §2.2 asks, an unknown or foreign
        token also answers 200: the answer must not tell which tokens exist.
        """
        try:
            form = await _read_form(request)
        except FormError as exc:
            return _oauth_error("invalid_request", str(exc))
        try:
            client = await self._authenticate_client(request, form)
        except _ClientAuthError as exc:
            return exc.response
        token = form.get("token")
        if token is None:
            return _oauth_error("invalid_request", "token is required")
        if self.refresh_tokens.revoke(token, client.client_id):
            logger.info("refresh token family revoked by %s", client.client_id)
        return Response(status_code=200, headers={"Cache-Control": "no-store"})

    # --- authorization endpoint -----------------------------------------------------------

    async def _validate_authorization(
        self, params: Mapping[str, str]
    ) -> _AuthorizationRequest | Response:
        """The request, or the response refusing it.

        Until client and redirect URI are known good, refusals are error pages: redirecting to an
        unchecked URI would make this an open redirector (RFC 6749 §4.1.2.1).
        """
        client_id = params.get("client_id")
        if client_id is None:
            return pages.error_page("Unknown client", "client_id is missing.", status_code=400)
        try:
            client = await self._find_client(client_id)
        except _UnknownClient as exc:
            return pages.error_page("Unknown client", f"{exc}.", status_code=400)
        if AUTHORIZATION_CODE not in client.grant_types:
            return pages.error_page(
                "Not allowed",
                f"Client {client.client_id} cannot use the authorization code flow.",
                status_code=400,
            )
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None or not client.accepts_redirect_uri(redirect_uri):
            return pages.error_page(
                "Unknown redirect URI",
                f"{redirect_uri!r} is not a registered redirect URI of client {client.client_id}.",
                status_code=400,
            )
        state = params.get("state")

        def refuse(error: str, description: str) -> Response:
            query = {"error": error, "error_description": description, "iss": self.settings.issuer}
            if state is not None:
                query["state"] = state
            return RedirectResponse(_with_query(redirect_uri, query), status_code=303)

        if params.get("response_type") != "code":
            return refuse("unsupported_response_type", "response_type must be code")
        scopes = _parse_scope(params.get("scope"), client.scopes)
        refused = [scope for scope in scopes if scope not in client.scopes]
        if not scopes:
            return refuse("invalid_scope", "scope names no scope")
        if refused:
            return refuse("invalid_scope", f"scope not allowed: {' '.join(refused)}")
        code_challenge = params.get("code_challenge")
        if (
            code_challenge is None
            or params.get("code_challenge_method") != "S256"
            or not _S256_CHALLENGE.fullmatch(code_challenge)
        ):
            return refuse("invalid_request", "PKCE is required: code_challenge_method=S256")
        return _AuthorizationRequest(
            client=client,
            redirect_uri=redirect_uri,
            state=state,
            scopes=scopes,
            code_challenge=code_challenge,
            nonce=params.get("nonce"),
            params={name: params[name] for name in _AUTHORIZE_PARAMS if name in params},
        )

    # The login form is protected from cross-site posting (login CSRF) by a token bound both to
    # a cookie only this host sets (SameSite=Lax, so a cross-site POST does not carry it) and to
    # the authorization request the form was served for. Browsers differ in the Origin header
    # they send for a form post (Chromium sends "null" under some referrer policies), so Origin
    # only refuses a request that plainly comes from another site.

    def _csrf_token(self, cookie: str, request: _AuthorizationRequest) -> str:
        bound = "\n".join(
            (cookie, request.client.client_id, request.redirect_uri, request.code_challenge)
        )
        return b64url(hmac.new(self._csrf_key, bound.encode("utf-8"), hashlib.sha256).digest())

    def _login_form(
        self,
        request: Request,
        validated: _AuthorizationRequest,
        *,
        email: str = "",
        error: str | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        fresh = not re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)
        if fresh:
            cookie = secrets.token_urlsafe(32)
        response = pages.login_page(
            hidden={**validated.params, CSRF_FIELD: self._csrf_token(cookie, validated)},
            client_id=validated.client.client_id,
            client_name=validated.client.client_name,
            self_registered=validated.client.self_registered,
            redirect_uri=validated.redirect_uri,
            scopes=validated.scopes,
            email=email,
            error=error,
            status_code=status_code,
            headers=headers,
        )
        if fresh:
            response.set_cookie(
                CSRF_COOKIE,
                cookie,
                path=AUTHORIZE_PATH,
                httponly=True,
                samesite="lax",
                secure=self.settings.issuer.startswith("https://"),
            )
        return response

    async def authorize_page(self, request: Request) -> Response:
        try:
            params = _single_valued(list(request.query_params.multi_items()))
        except FormError as exc:
            return pages.error_page("Bad request", str(exc), status_code=400)
        validated = await self._validate_authorization(params)
        if isinstance(validated, Response):
            return validated
        return self._login_form(request, validated)

    def _foreign_origin(self, request: Request) -> str | None:
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return None
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        return None if origin in {self.settings.issuer_origin, own} else origin

    async def authorize_submit(self, request: Request) -> Response:
        foreign = self._foreign_origin(request)
        if foreign is not None:
            return pages.error_page(
                "Cross-origin sign-in refused",
                f"The sign-in form was posted from {foreign}. Open the login page from the "
                "application you are signing in to.",
                status_code=403,
            )
        try:
            form = await _read_form(request)
        except FormError as exc:
            return pages.error_page("Bad request", str(exc), status_code=400)
        validated = await self._validate_authorization(form)
        if isinstance(validated, Response):
            return validated
        email = form.get("email", "")
        password = form.get("password", "")

        def again(
            error: str, status_code: int, headers: Mapping[str, str] | None = None
        ) -> Response:
            return self._login_form(
                request,
                validated,
                email=email,
                error=error,
                status_code=status_code,
                headers=headers,
            )

        cookie = request.cookies.get(CSRF_COOKIE)
        submitted = form.get(CSRF_FIELD, "")
        if cookie is None or not hmac.compare_digest(
            submitted.encode(), self._csrf_token(cookie, validated).encode()
        ):
            return again(
                "This sign-in form has expired or was not opened here (it needs cookies). "
                "Please sign in again.",
                403,
            )

        account, address = normalize_email(email), _client_address(request)
        wait = self.login_throttle.retry_after(account, address)
        if wait:
            return again(_throttled(wait), 429, {"Retry-After": str(wait)})
        try:
            customer = await self.users.find(email) if email else None
        except UserDirectoryError as exc:
            return again(str(exc), 503)
        password_ok = hmac.compare_digest(
            password.encode("utf-8"), self.settings.dev_password.encode("utf-8")
        )
        if customer is None or not password_ok:
            self.login_throttle.failed(account, address)
            logger.info("failed sign-in for %r from %s", account, address)
            wait = self.login_throttle.retry_after(account, address)
            if wait:
                return again(_throttled(wait), 429, {"Retry-After": str(wait)})
            return again("Incorrect e-mail or password.", 401)
        self.login_throttle.succeeded(account)
        code = self.codes.issue(
            CodeGrant(
                client_id=validated.client.client_id,
                redirect_uri=validated.redirect_uri,
                code_challenge=validated.code_challenge,
                scopes=validated.scopes,
                customer=customer,
                auth_time=int(self.clock()),
                nonce=validated.nonce,
            )
        )
        query = {"code": code, "iss": self.settings.issuer}
        if validated.state is not None:
            query["state"] = validated.state
        logger.info("%s signed in to %s", customer.email, validated.client.client_id)
        return RedirectResponse(_with_query(validated.redirect_uri, query), status_code=303)


def _throttled(wait: int) -> str:
    return (
        "Too many failed sign-ins for this account or from this address. "
        f"Try again in {wait} seconds."
    )


def build_app(
    settings: IdpSettings,
    *,
    users: UserDirectory,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The ASGI app; loads (or creates) the signing key from ``settings.key_dir``."""
    key = load_or_create_signing_key(settings.key_dir)
    clients = ClientRegistry.load(key, settings.clients_file)
    idp = _IdentityProvider(settings, key, clients, users, clock)
    middleware = [
        # Browser apps exchange codes and read metadata cross-origin: registered ones, and any
        # on this machine (see LOOPBACK_ORIGINS). No credentials, so never a cookie.
        Middleware(
            CORSMiddleware,
            allow_origins=clients.browser_origins(),
            allow_origin_regex=LOOPBACK_ORIGINS,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "MCP-Protocol-Version"],
        ),
    ]
    if is_loopback_host(settings.host):
        issuer_host = urlsplit(settings.issuer).hostname or "127.0.0.1"
        # DNS-rebinding protection: a loopback server answers only to loopback host names.
        allowed = sorted({"127.0.0.1", "localhost", "::1", issuer_host})
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=allowed))
    return Starlette(
        routes=[
            Route("/health", idp.health, methods=["GET"]),
            Route("/.well-known/openid-configuration", idp.discovery, methods=["GET"]),
            Route("/.well-known/oauth-authorization-server", idp.discovery, methods=["GET"]),
            Route(JWKS_PATH, idp.jwks, methods=["GET"]),
            Route(TOKEN_PATH, idp.token, methods=["POST"]),
            Route(REGISTER_PATH, idp.register, methods=["POST"]),
            Route(REVOKE_PATH, idp.revoke, methods=["POST"]),
            Route(AUTHORIZE_PATH, idp.authorize_page, methods=["GET"]),
            Route(AUTHORIZE_PATH, idp.authorize_submit, methods=["POST"]),
        ],
        middleware=middleware,
        max_body_size=MAX_BODY_BYTES,
    )
