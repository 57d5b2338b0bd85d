"""The dev identity provider's HTTP app: discovery, JWKS, token endpoint, login page."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import re
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
    Client,
    ClientRegistry,
)
from servers.devidp.codes import CodeGrant, CodeStore
from servers.devidp.keys import SigningKey, b64url, load_or_create_signing_key
from servers.devidp.settings import IdpSettings
from servers.devidp.tokens import mint_access_token, mint_id_token
from servers.devidp.users import UserDirectory, UserDirectoryError

__all__ = ["UserDirectory", "build_app", "discovery_document"]

logger = logging.getLogger(__name__)

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a URL path, not a secret
AUTHORIZE_PATH = "/oauth2/authorize"
JWKS_PATH = "/.well-known/jwks.json"
MAX_BODY_BYTES = 64 * 1024
MAX_FORM_FIELDS = 32

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
        "response_types_supported": ["code"],
        "grant_types_supported": [AUTHORIZATION_CODE, CLIENT_CREDENTIALS],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # --- metadata -------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(discovery_document(self.settings))

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.key.jwks(), headers={"Cache-Control": "public, max-age=300"})

    # --- token endpoint -------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        try:
            form = await _read_form(request)
        except FormError as exc:
            return _oauth_error("invalid_request", str(exc))
        grant_type = form.get("grant_type")
        if grant_type is None:
            return _oauth_error("invalid_request", "grant_type is required")
        if grant_type not in (CLIENT_CREDENTIALS, AUTHORIZATION_CODE):
            return _oauth_error(
                "unsupported_grant_type", f"grant_type {grant_type} is not supported"
            )
        try:
            client = self._authenticate_client(request, form)
        except _ClientAuthError as exc:
            return exc.response
        if grant_type not in client.grant_types:
            return _oauth_error(
                "unauthorized_client",
                f"client {client.client_id} may not use grant_type {grant_type}",
            )
        if grant_type == CLIENT_CREDENTIALS:
            return self._client_credentials(client, form)
        return self._authorization_code(client, form)

    def _authenticate_client(self, request: Request, form: Mapping[str, str]) -> Client:
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
        public = self.clients.get(body_id)
        if public is None or public.confidential:
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
            )
        }
        if "openid" in grant.scopes:
            body["id_token"] = mint_id_token(
                key=self.key,
                issuer=self.settings.issuer,
                sub=customer.customer_id,
                client_id=client.client_id,
                email=customer.email,
                name=customer.full_name if "profile" in grant.scopes else None,
                nonce=grant.nonce,
                ttl=self.settings.token_ttl_seconds,
                auth_time=grant.auth_time,
                now=now,
            )
        logger.info("authorization_code token for %s via %s", customer.email, client.client_id)
        return self._token_response(body)

    def _token_response(self, body: dict[str, Any]) -> Response:
        body["token_type"] = "Bearer"  # noqa: S105 - a token type, not a secret
        body["expires_in"] = self.settings.token_ttl_seconds
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    # --- authorization endpoint -----------------------------------------------------------

    def _validate_authorization(
        self, params: Mapping[str, str]
    ) -> _AuthorizationRequest | Response:
        """The request, or the response refusing it.

        Until client and redirect URI are known good, refusals are error pages: redirecting to an
        unchecked URI would make this an open redirector (RFC 6749 §4.1.2.1).
        """
        client_id = params.get("client_id")
        client = self.clients.get(client_id) if client_id else None
        if client is None:
            return pages.error_page(
                "Unknown client", f"No client is registered as {client_id!r}.", status_code=400
            )
        if AUTHORIZATION_CODE not in client.grant_types:
            return pages.error_page(
                "Not allowed",
                f"Client {client.client_id} cannot use the authorization code flow.",
                status_code=400,
            )
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            return pages.error_page(
                "Unknown redirect URI",
                f"{redirect_uri!r} is not a registered redirect URI of client {client.client_id}.",
                status_code=400,
            )
        state = params.get("state")

        def refuse(error: str, description: str) -> Response:
            query = {"error": error, "error_description": description}
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

    async def authorize_page(self, request: Request) -> Response:
        try:
            params = _single_valued(list(request.query_params.multi_items()))
        except FormError as exc:
            return pages.error_page("Bad request", str(exc), status_code=400)
        validated = self._validate_authorization(params)
        if isinstance(validated, Response):
            return validated
        return pages.login_page(
            hidden=validated.params,
            client_id=validated.client.client_id,
            scopes=validated.scopes,
        )

    async def authorize_submit(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin != self.settings.issuer_origin:
            return pages.error_page(
                "Cross-origin sign-in refused",
                f"The sign-in form must be submitted from {self.settings.issuer_origin}, "
                f"not {origin}. Open the login page there.",
                status_code=403,
            )
        try:
            form = await _read_form(request)
        except FormError as exc:
            return pages.error_page("Bad request", str(exc), status_code=400)
        validated = self._validate_authorization(form)
        if isinstance(validated, Response):
            return validated
        email = form.get("email", "")
        password = form.get("password", "")

        def again(error: str, status_code: int) -> Response:
            return pages.login_page(
                hidden=validated.params,
                client_id=validated.client.client_id,
                scopes=validated.scopes,
                email=email,
                error=error,
                status_code=status_code,
            )

        try:
            customer = await self.users.find(email) if email else None
        except UserDirectoryError as exc:
            return again(str(exc), 503)
        password_ok = hmac.compare_digest(
            password.encode("utf-8"), self.settings.dev_password.encode("utf-8")
        )
        if customer is None or not password_ok:
            return again("Incorrect e-mail or password.", 401)
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
        query = {"code": code}
        if validated.state is not None:
            query["state"] = validated.state
        logger.info("%s signed in to %s", customer.email, validated.client.client_id)
        return RedirectResponse(_with_query(validated.redirect_uri, query), status_code=303)


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
        # Browser apps exchange codes and read metadata cross-origin; only registered ones may.
        Middleware(
            CORSMiddleware,
            allow_origins=clients.browser_origins(),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "MCP-Protocol-Version"],
        ),
    ]
    if _is_loopback(settings.host):
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
            Route(AUTHORIZE_PATH, idp.authorize_page, methods=["GET"]),
            Route(AUTHORIZE_PATH, idp.authorize_submit, methods=["POST"]),
        ],
        middleware=middleware,
        max_body_size=MAX_BODY_BYTES,
    )
