"""OAuth 2.1 resource-server side: validating Cognito-shaped access tokens, enforcing scopes,
and telling every tool who is calling.

FastMCP's :class:`JWTVerifier` does the JWKS work (RS256, cache, refresh on an unknown ``kid``)
and its :class:`RemoteAuthProvider` serves RFC 9728 metadata. What they lack is added here, once:

- ``token_use`` must be ``access``; ``nbf``/``iat`` may not lie in the future (beyond
  :data:`~servers.core.settings.CLOCK_SKEW_SECONDS`); a token that carries an ``aud`` must name
  this server (its base URL, with or without ``/mcp`` and a trailing slash);
- who may call what: customer scopes are usable by any client of the issuer, service-only scopes
  (:data:`~servers.core.scopes.SERVICE_ONLY_SCOPES`) only by our service clients; an operator
  may also keep an allow-list of clients;
- the token must carry a scope of this server's own resource server (Cognito access tokens have
  no ``aud``: "audience by scope"), so a token for another server is refused as such;
- a refused token gets a ``401`` whose JSON body and ``WWW-Authenticate`` challenge name the class
  of problem (expired, not for this resource, unknown issuer, malformed...), never internals.

Per-tool scopes are enforced by :class:`ScopeGate`, so that a missing scope is an HTTP
``403 insufficient_scope`` naming the scope, as the MCP authorization spec asks.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import jwt
from fastmcp.server.auth import AccessToken, RemoteAuthProvider
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.server.dependencies import get_access_token
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from pydantic import AnyHttpUrl
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.middleware import Middleware as AsgiMiddleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import NOT_ALLOWED, UNAVAILABLE, DomainError
from .limits import send_error
from .logs import current_request_id
from .resource_metadata import requestable, resource_metadata_url
from .scopes import SERVICE_ONLY_SCOPES, resource_server
from .settings import CLOCK_SKEW_SECONDS

log = logging.getLogger(__name__)

ACCEPTED_TOKENS_CACHED = 4096
JWKS_RETRY_SECONDS = 1.0
SERVICE_ONLY = frozenset(SERVICE_ONLY_SCOPES)

# What a refused client is told: the class of problem, never which key, claim value or rule.
MALFORMED = "The bearer token is malformed or not a JWT access token."
UNVERIFIED = "The bearer token's signature cannot be verified with the issuer's keys."
UNKNOWN_ISSUER = "The bearer token comes from an issuer this server does not trust."
EXPIRED = "The bearer token has expired; get a new one (or refresh it)."
NOT_YET_VALID = "The bearer token is not valid yet (nbf or iat in the future)."
NOT_ACCESS = "The bearer token is not an access token."
NOT_FOR_THIS_RESOURCE = "The bearer token is not for this resource server."
CLIENT_NOT_ALLOWED = "The bearer token's client may not use this resource server."


class TokenRefused(Exception):
    """A bearer token this server does not accept.

    ``description`` is safe to send to the client; ``reason`` says more, for the log only.
    """

    def __init__(self, description: str, reason: str):
        super().__init__(reason)
        self.description = description
        self.reason = reason


SubjectResolver = Callable[[AccessToken], Awaitable[str]]
"""Our subject for a verified user token whose issuer names users its own way (Cognito's ``sub``
is a UUID; servers/core/subjects.py maps it to a customer). It may raise
:class:`TokenRefused`; any other failure is the resolver's (the data server down, say), never
the token's, and becomes :class:`SignInUnavailable`."""

SIGN_IN_RETRY_SECONDS = 5


class SignInUnavailable(DomainError):
    """A valid token whose subject could not be resolved for now: worth a retry, not a new
    token (a 401 would send the client to sign in again, for nothing)."""

    def __init__(self) -> None:
        super().__init__(
            UNAVAILABLE,
            "signing you in needs a service that is unavailable right now; try again shortly",
        )


class CognitoAccessTokenVerifier(JWTVerifier):
    """Accepts only access tokens meant for ``resource`` that the rules above allow.

    ``service_client_ids`` may use service-only scopes; other clients' tokens keep only their
    other scopes. ``client_ids``, when not empty, is an allow-list of every client. ``base_url``
    is this server's resource identifier, which an ``aud`` claim, when present, must name.
    """

    def __init__(
        self,
        *,
        issuer: str,
        jwks_uri: str,
        resource: str,
        base_url: str,
        service_client_ids: Iterable[str],
        client_ids: Iterable[str] = (),
        jwks_refresh_interval: float = 30.0,
        jwks_retry_seconds: float = JWKS_RETRY_SECONDS,
        http_client: httpx2.AsyncClient | None = None,
        subjects: SubjectResolver | None = None,
    ):
        super().__init__(
            jwks_uri=jwks_uri,
            issuer=issuer,
            algorithm="RS256",
            jwks_refresh_interval=jwks_refresh_interval,
            http_client=http_client,
        )
        self.resource = resource
        self.audiences = _audiences(base_url)
        self.service_client_ids = frozenset(service_client_ids)
        self.client_ids = frozenset(client_ids)
        self.jwks_retry_seconds = jwks_retry_seconds
        self.subjects = subjects
        # A client sends the same token on every call until it expires; checking its RS256
        # signature each time was ~8% of a call's CPU (py-spy, make bench). Only tokens that
        # passed every check are kept, and only until they expire.
        self._accepted: OrderedDict[str, AccessToken] = OrderedDict()

    async def _refresh_jwks_key(self, kid: str | None) -> str:
        # FastMCP waits jwks_refresh_interval (30 s) after any refresh attempt, even one that
        # never reached the issuer: one failed first fetch (a loaded machine, the issuer still
        # starting) then refused every token, valid ones included, for 30 s. A fetch that
        # failed is retried after jwks_retry_seconds; a successful one keeps the interval,
        # which bounds how often a stream of unknown key ids can make us fetch.
        try:
            return await super()._refresh_jwks_key(kid)
        except ValueError as exc:
            if isinstance(exc.__cause__, httpx2.HTTPError):
                self._jwks_last_refresh_attempt = (
                    time.monotonic() - self._jwks_refresh_interval + self.jwks_retry_seconds
                )
            raise

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            return await self.check(token)
        except TokenRefused:
            return None

    async def check(self, token: str) -> AccessToken:
        """The token's access, or :class:`TokenRefused` saying why not (logged here)."""
        cached = self._accepted.get(token)
        if cached is not None:
            if cached.expires_at is not None and cached.expires_at > time.time():
                self._accepted.move_to_end(token)
                return cached
            del self._accepted[token]
        try:
            access = await self._verify(token)
            subject = access.subject
            # A user's token (a service's carries its client id as subject) is mapped once;
            # the mapped token is what is cached.
            if self.subjects is not None and subject not in (None, access.client_id):
                access = access.model_copy(update={"subject": await self._resolve(access)})
        except TokenRefused as refused:
            log.info("bearer token rejected: %s", refused.reason)
            raise
        self._accepted[token] = access
        if len(self._accepted) > ACCEPTED_TOKENS_CACHED:
            self._accepted.popitem(last=False)
        return access

    async def _resolve(self, access: AccessToken) -> str:
        assert self.subjects is not None
        try:
            return await self.subjects(access)
        except TokenRefused:
            raise
        except Exception as exc:
            # Not cached: the next call with the same token tries again.
            log.warning("subject of client %s not resolved: %r", access.client_id, exc)
            raise SignInUnavailable() from exc

    async def _verify(self, token: str) -> AccessToken:
        access = await super().verify_token(token)
        if access is None:
            raise _why_unverified(token, self.issuer)
        claims = access.claims
        now = time.time()
        client = claims.get("client_id")
        if claims.get("token_use") != "access":
            raise TokenRefused(NOT_ACCESS, "not an access token (token_use must be 'access')")
        if not isinstance(claims.get("exp"), int):
            raise TokenRefused(MALFORMED, "no expiry")
        for claim in ("nbf", "iat"):
            value = claims.get(claim)
            if value is not None and (
                not isinstance(value, int | float) or value > now + CLOCK_SKEW_SECONDS
            ):
                raise TokenRefused(NOT_YET_VALID, f"{claim} {value!r} is in the future")
        if "aud" in claims and not self._names_this_server(claims["aud"]):
            raise TokenRefused(NOT_FOR_THIS_RESOURCE, f"aud {claims['aud']!r} is another resource")
        if self.client_ids and client not in self.client_ids:
            raise TokenRefused(CLIENT_NOT_ALLOWED, f"client {client!r} is not allowed")
        mine = [s for s in access.scopes if resource_server(s) == self.resource]
        usable = [s for s in mine if client in self.service_client_ids or s not in SERVICE_ONLY]
        if not mine:
            raise TokenRefused(
                NOT_FOR_THIS_RESOURCE, f"no scope of resource server {self.resource!r}"
            )
        if not usable:
            raise TokenRefused(
                CLIENT_NOT_ALLOWED,
                f"client {client!r} is not a service client and may not use {sorted(mine)}",
            )
        if len(usable) < len(mine):
            kept = [s for s in access.scopes if s not in mine or s in usable]
            access = access.model_copy(update={"scopes": kept})
        return access

    def _names_this_server(self, aud: object) -> bool:
        named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        return any(isinstance(a, str) and a.rstrip("/") in self.audiences for a in named)


def _audiences(base_url: str) -> frozenset[str]:
    """What an ``aud`` may say to mean this server: its base URL or its MCP endpoint's, either
    with or without a trailing slash (RFC 8707 resource indicators are written both ways)."""
    base = base_url.rstrip("/")
    return frozenset({base, f"{base}/mcp"})


def _why_unverified(token: str, issuer: str | list[str] | None) -> TokenRefused:
    """Why FastMCP's verifier refused a token, from its unverified contents. The answer only
    picks the description: a forged token learns nothing it did not put there itself."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return TokenRefused(MALFORMED, "not a JWT")
    if header.get("alg") != "RS256":
        return TokenRefused(MALFORMED, f"algorithm {header.get('alg')!r} is not RS256")
    if isinstance(issuer, str) and claims.get("iss") != issuer:
        return TokenRefused(UNKNOWN_ISSUER, f"issuer mismatch ({claims.get('iss')!r})")
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp < time.time():
        return TokenRefused(EXPIRED, "token expired")
    return TokenRefused(UNVERIFIED, "signature or key id does not verify")


class _BearerBackend(AuthenticationBackend):
    """Starlette authentication with the verifier's reasons: a refused token on the protected
    path raises, and :func:`_refuse` answers it; elsewhere (health, metadata) it is ignored."""

    def __init__(self, verifier: CognitoAccessTokenVerifier, protected_path: str):
        self.verifier = verifier
        self.protected_path = protected_path

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization", "")
        if header[:7].lower() != "bearer ":
            return None
        try:
            access = await self.verifier.check(header[7:].strip())
        except TokenRefused as refused:
            if conn.url.path.rstrip("/") != self.protected_path:
                return None
            raise AuthenticationError(refused.description) from refused
        except SignInUnavailable as unavailable:
            if conn.url.path.rstrip("/") != self.protected_path:
                return None
            raise _NotNow(str(unavailable)) from unavailable
        return AuthCredentials(access.scopes), AuthenticatedUser(access)


class _NotNow(AuthenticationError):
    """:class:`SignInUnavailable` on its way to the answer (:meth:`ResourceServerAuth._refuse`)."""


NEEDS_ACCESS = "This resource needs a bearer access token from its authorization server."


class _MissingTokenBody:
    """Gives the ``401`` for a request with no token a JSON body like every other refusal.

    FastMCP answers it with an empty body and, as RFC 6750 §3.1 asks, a challenge without an
    ``error`` attribute (the start of discovery, not a failure); the challenge is kept as it
    is and only the body is added, naming where the resource metadata is.
    """

    def __init__(self, app: ASGIApp, *, path: str, resource_metadata_url: str):
        self.app = app
        self.path = path
        self.body = json.dumps(
            {
                "error": "unauthorized",
                "error_description": f"{NEEDS_ACCESS} Its metadata: {resource_metadata_url}",
            }
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        replacing = False

        async def send_with_body(message: Message) -> None:
            nonlocal replacing
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                replacing = message["status"] == 401 and (b"content-length", b"0") in headers
                if replacing:
                    headers = [h for h in headers if h[0].lower() != b"content-length"]
                    message = {
                        **message,
                        "headers": [
                            *headers,
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(self.body)).encode()),
                        ],
                    }
            elif message["type"] == "http.response.body" and replacing:
                message = {**message, "body": self.body}
            await send(message)

        await self.app(scope, receive, send_with_body)


class ResourceServerAuth(RemoteAuthProvider):
    """FastMCP's remote-auth provider whose ``401`` says what is wrong with a refused token."""

    def __init__(
        self,
        *,
        verifier: CognitoAccessTokenVerifier,
        protected_path: str,
        resource_metadata_url: str,
        **options: Any,
    ):
        super().__init__(token_verifier=verifier, **options)
        self._backend = _BearerBackend(verifier, protected_path)
        self._resource_metadata_url = resource_metadata_url

    def get_middleware(self) -> list[Any]:
        return [
            AsgiMiddleware(
                _MissingTokenBody,
                path=self._backend.protected_path,
                resource_metadata_url=self._resource_metadata_url,
            ),
            AsgiMiddleware(AuthenticationMiddleware, backend=self._backend, on_error=self._refuse),
            AsgiMiddleware(AuthContextMiddleware),
        ]

    def _refuse(self, conn: HTTPConnection, exc: Exception) -> Response:
        if isinstance(exc, _NotNow):
            # A 503 with the stable code and plain words, rather than Starlette's plain-text
            # 500 for the exception; the token stays good, so no challenge.
            return JSONResponse(
                {
                    "error": "unavailable",
                    "error_description": f"{exc} (request id {current_request_id()})",
                },
                status_code=503,
                headers={"retry-after": str(SIGN_IN_RETRY_SECONDS)},
            )
        description = str(exc)
        challenge = (
            f'Bearer error="invalid_token", error_description="{description}", '
            f'resource_metadata="{self._resource_metadata_url}"'
        )
        return JSONResponse(
            {"error": "invalid_token", "error_description": description},
            status_code=401,
            headers={"www-authenticate": challenge},
        )


def build_auth(
    *,
    issuer: str,
    jwks_uri: str,
    resource: str,
    scopes: Sequence[str],
    base_url: str,
    mcp_path: str,
    name: str,
    service_client_ids: Iterable[str],
    client_ids: Iterable[str] = (),
    authorization_servers: Sequence[str] = (),
    subjects: SubjectResolver | None = None,
) -> ResourceServerAuth:
    """The auth provider of one MCP server: token validation, RFC 9728 metadata, accurate 401s.

    ``authorization_servers`` (default: the issuer) is what the metadata names; it differs from
    the issuer where an edge in front of the issuer registers clients (Cognito has no RFC 7591).
    """
    verifier = CognitoAccessTokenVerifier(
        issuer=issuer,
        jwks_uri=jwks_uri,
        resource=resource,
        base_url=base_url,
        service_client_ids=service_client_ids,
        client_ids=client_ids,
        subjects=subjects,
    )
    return ResourceServerAuth(
        verifier=verifier,
        protected_path=mcp_path,
        resource_metadata_url=resource_metadata_url(base_url, mcp_path),
        authorization_servers=[AnyHttpUrl(url) for url in authorization_servers or (issuer,)],
        base_url=base_url,
        scopes_supported=requestable(scopes),
        resource_name=name,
    )


PARSE_ERROR: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": None,
    "error": {"code": -32700, "message": "Parse error: the request body is not valid JSON"},
}
"""What the MCP transport answers for a body it cannot parse, answered here for the same."""

ToolScopes = Callable[[str], Awaitable[tuple[str, ...] | None]]


class ScopeGate:
    """ASGI middleware: refuses a ``tools/call`` whose token lacks the tool's scope with ``403``.

    ``tool_scopes(name)`` gives the scopes of a tool (any one suffices), or None for an unknown
    tool, which is left to the MCP layer to answer. Runs after authentication, so the token's
    scopes are in ``scope["auth"]``.
    """

    def __init__(
        self, app: ASGIApp, *, path: str, tool_scopes: ToolScopes, resource_metadata_url: str
    ):
        self.app = app
        self.path = path
        self.tool_scopes = tool_scopes
        self.resource_metadata_url = resource_metadata_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"].rstrip("/") != self.path
            or not getattr(scope.get("user"), "is_authenticated", False)
        ):
            await self.app(scope, receive, send)
            return
        body, messages = await _read_body(receive)
        called = _called_tools(body)
        if called is None:
            await send_error(send, 400, PARSE_ERROR)
            return
        granted = set(scope["auth"].scopes)
        for name in called:
            needed = await self.tool_scopes(name)
            if needed and granted.isdisjoint(needed):
                await self._forbid(send, needed)
                return
        await self.app(scope, _replay(messages, receive), send)

    async def _forbid(self, send: Send, needed: tuple[str, ...]) -> None:
        named = " ".join(needed)
        description = f"Required scope: {' or '.join(needed)}"
        challenge = (
            f'Bearer error="insufficient_scope", error_description="{description}", '
            f'scope="{named}", resource_metadata="{self.resource_metadata_url}"'
        )
        await send_error(
            send,
            403,
            {"error": "insufficient_scope", "error_description": description},
            headers=[(b"www-authenticate", challenge.encode())],
        )


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body, and the messages it came in to hand on. Its size is bounded in front of
    the gate, by the kit's :class:`~servers.core.limits.BodyLimit`."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _called_tools(body: bytes) -> list[str] | None:
    """The tools a JSON-RPC body calls, or None when it is not JSON at all."""
    try:
        payload: Any = json.loads(body)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than the interpreter's recursion limit ("[" * 1000).
        return None
    requests = payload if isinstance(payload, list) else [payload]
    names = []
    for request in requests:
        if isinstance(request, dict) and request.get("method") == "tools/call":
            params = request.get("params")
            if isinstance(params, dict) and isinstance(params.get("name"), str):
                names.append(params["name"])
    return names


@dataclass(frozen=True)
class Principal:
    """Who is calling a tool: the OAuth client, and the user it acts for, if any.

    Cognito's client-credentials tokens carry the client id as subject: such a token is a
    service acting for itself (``customer_id`` None); a user's token acts for its subject.
    """

    client_id: str
    subject: str | None = None
    scopes: frozenset[str] | None = None
    """The scopes granted; None for a call made in process, which no token limits."""

    @property
    def customer_id(self) -> str | None:
        return None if self.subject in (None, self.client_id) else self.subject


_in_process: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "in_process_caller", default=None
)


@contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Make the tool calls inside, without HTTP (in-memory clients, tests), as ``principal``.

    FastMCP's in-memory transport runs a tool in the context of the call, so this reaches the
    server's tool. Without it (or a token) a tool call is refused.
    """
    reset = _in_process.set(principal)
    try:
        yield principal
    finally:
        _in_process.reset(reset)


def granted_scopes() -> frozenset[str] | None:
    """The scopes of the request under way: its token's, or those an in-process
    :func:`acting_as` names; None when nothing limits it (the server's own listing at start)."""
    token = get_access_token()
    if token is not None:
        return frozenset(token.scopes)
    principal = _in_process.get()
    return None if principal is None else principal.scopes


def current_caller() -> Principal:
    """The caller of the tool call under way, from its access token; failing closed: a call with
    neither a token nor an explicit :func:`acting_as` is ``NOT_ALLOWED``."""
    token = get_access_token()
    if token is not None:
        return Principal(token.client_id, token.subject or token.client_id, frozenset(token.scopes))
    principal = _in_process.get()
    if principal is None:
        raise DomainError(NOT_ALLOWED, "this call carries no access token")
    return principal
