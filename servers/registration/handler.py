"""The Lambda entry point, for an API Gateway HTTP API (payload format 2.0).

Routes: ``POST /register`` (RFC 7591), ``GET /.well-known/oauth-authorization-server``
(RFC 8414), and ``GET /authorize``, ``POST /token``, ``POST /revoke`` in front of Cognito's
(:mod:`servers.registration.front`). Everything here is HTTP: the decisions are in
:mod:`servers.registration.service` and :mod:`servers.registration.front`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Final

import boto3

from servers.core.logs import configure_logging, new_request_id, request_id_var
from servers.registration.cognito import CognitoAppClients
from servers.registration.front import MetadataDocuments, OAuthFront, form_of
from servers.registration.service import (
    INVALID_REQUEST,
    SERVER_ERROR,
    RateLimited,
    Registrar,
    RegistrationError,
    SourceRateLimiter,
    authorization_server_metadata,
)
from servers.registration.settings import RegistrationSettings

log = logging.getLogger(__name__)

REGISTER_PATH: Final = "/register"
METADATA_PATH: Final = "/.well-known/oauth-authorization-server"
AUTHORIZE_PATH: Final = "/authorize"
TOKEN_PATH: Final = "/token"  # noqa: S105 (a route, not a secret)
REVOKE_PATH: Final = "/revoke"
# No cookies on any route, so any origin may call them from a browser (the MCP Inspector's UI
# does); this is not ``*`` with credentials. ``authorization`` is a service client's secret for
# the token endpoint, sent by the caller itself, never by the browser on its own.
_CORS: Final = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-allow-headers": "content-type, authorization",
    "access-control-max-age": "600",
}
_JSON: Final = {"content-type": "application/json", "cache-control": "no-store", **_CORS}

Event = Mapping[str, Any]
Response = dict[str, Any]


class Edge:
    """The routes over a registrar and the OAuth front; built once per Lambda instance."""

    def __init__(self, settings: RegistrationSettings, registrar: Registrar, front: OAuthFront):
        self._settings = settings
        self._registrar = registrar
        self._front = front
        self._metadata = authorization_server_metadata(settings).model_dump_json()

    def handle(self, event: Event) -> Response:
        http = event.get("requestContext", {}).get("http", {})
        method, path = http.get("method", ""), event.get("rawPath", "")
        if method == "OPTIONS" and path in (REGISTER_PATH, METADATA_PATH, TOKEN_PATH, REVOKE_PATH):
            return {"statusCode": 204, "headers": dict(_CORS), "body": ""}
        if path == METADATA_PATH:
            if method not in ("GET", "HEAD"):
                return _refusal(RegistrationError(INVALID_REQUEST, "use GET", 405))
            # The document changes only with a deployment.
            headers = {**_JSON, "cache-control": "public, max-age=3600"}
            return {"statusCode": 200, "headers": headers, "body": self._metadata}
        if path == REGISTER_PATH:
            if method != "POST":
                return _refusal(RegistrationError(INVALID_REQUEST, "use POST", 405))
            return self._register(event, _source(http))
        if path == AUTHORIZE_PATH:
            if method != "GET":
                return _refusal(RegistrationError(INVALID_REQUEST, "use GET", 405))
            return self._guarded(lambda: self._authorize(event, _source(http)))
        if path in (TOKEN_PATH, REVOKE_PATH):
            if method != "POST":
                return _refusal(RegistrationError(INVALID_REQUEST, "use POST", 405))
            return self._guarded(lambda: self._forward(event, path, _source(http)))
        return _refusal(RegistrationError(INVALID_REQUEST, "no such endpoint", 404))

    def _register(self, event: Event, source: str) -> Response:
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if media_type != "application/json":
                raise RegistrationError(INVALID_REQUEST, "the body must be application/json", 415)
            client = self._registrar.register(_body(event, self._settings), source)
        except RegistrationError as exc:
            return _refusal(exc)
        except Exception:
            log.exception("registration failed")
            return _refusal(RegistrationError(SERVER_ERROR, "registration failed", 500))
        return {"statusCode": 201, "headers": dict(_JSON), "body": client.model_dump_json()}

    def _authorize(self, event: Event, source: str) -> Response:
        location = self._front.authorize(event.get("rawQueryString") or "", source)
        # no-store: the location carries the client's state and PKCE challenge.
        return {
            "statusCode": 302,
            "headers": {"location": location, "cache-control": "no-store"},
            "body": "",
        }

    def _forward(self, event: Event, path: str, source: str) -> Response:
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        if not form_of(headers):
            raise RegistrationError(
                INVALID_REQUEST, "the body must be application/x-www-form-urlencoded", 415
            )
        form = _body(event, self._settings)
        authorization = headers.get("authorization")
        answer = (
            self._front.token(form, authorization, source)
            if path == TOKEN_PATH
            else self._front.revoke(form, authorization, source)
        )
        # Tokens are never cached anywhere on the way (RFC 6749 §5.1).
        response_headers = {**_JSON, "pragma": "no-cache"}
        return {
            "statusCode": answer.status,
            "headers": response_headers,
            "body": answer.body.decode("utf-8", "replace"),
        }

    def _guarded(self, route: Callable[[], Response]) -> Response:
        try:
            return route()
        except RegistrationError as exc:
            return _refusal(exc)
        except Exception:
            log.exception("request failed")
            return _refusal(RegistrationError(SERVER_ERROR, "the request failed", 500))


def _source(http: Mapping[str, Any]) -> str:
    return str(http.get("sourceIp", "unknown"))


def _body(event: Event, settings: RegistrationSettings) -> bytes:
    raw = event.get("body") or ""
    # A quick bound before decoding: base64 is 4/3 the size of what it encodes.
    if len(raw) > settings.max_body_bytes * 4 // 3 + 4:
        raise RegistrationError(
            INVALID_REQUEST, f"the body exceeds {settings.max_body_bytes} bytes", 413
        )
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise RegistrationError(INVALID_REQUEST, "the body is not valid base64") from None
    return str(raw).encode()


def _refusal(exc: RegistrationError) -> Response:
    headers = dict(_JSON)
    if isinstance(exc, RateLimited):
        headers["retry-after"] = str(exc.retry_after)
    return {"statusCode": exc.status, "headers": headers, "body": json.dumps(exc.body())}


@cache
def _edge() -> Edge:
    # Settings and the boto3 client are made once per instance, at the first request.
    settings = RegistrationSettings()  # from the environment
    configure_logging(settings.log_level, service="registration")
    cognito = boto3.client("cognito-idp", region_name=settings.region)
    limiter = SourceRateLimiter(settings.rate_per_source, settings.rate_window_seconds)
    app_clients = CognitoAppClients(cognito, settings)
    documents = MetadataDocuments(
        settings,
        app_clients,
        SourceRateLimiter(settings.rate_per_source, settings.rate_window_seconds),
    )
    front = OAuthFront(settings, documents)
    return Edge(settings, Registrar(settings, app_clients, limiter), front)


def handler(event: Event, context: object) -> Response:
    """The Lambda handler: ``servers.registration.handler.handler``."""
    # API Gateway's id, so that a log line can be found from the access log and back.
    request_id_var.set(event.get("requestContext", {}).get("requestId") or new_request_id())
    return _edge().handle(event)
