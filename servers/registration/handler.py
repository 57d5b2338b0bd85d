"""The Lambda entry point, for an API Gateway HTTP API (payload format 2.0).

Routes: ``POST /register`` (RFC 7591) and ``GET /.well-known/oauth-authorization-server``
(RFC 8414). Everything here is HTTP: the decisions are in :mod:`servers.registration.service`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from functools import cache
from typing import Any, Final

import boto3

from servers.core.logs import configure_logging, new_request_id, request_id_var
from servers.registration.cognito import CognitoAppClients
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
# No cookies and no credentials on either route, so any origin may call them from a browser
# (the MCP Inspector's UI does); this is not ``*`` with credentials.
_CORS: Final = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-allow-headers": "content-type",
    "access-control-max-age": "600",
}
_JSON: Final = {"content-type": "application/json", "cache-control": "no-store", **_CORS}

Event = Mapping[str, Any]
Response = dict[str, Any]


class Edge:
    """The two routes over a registrar; built once per Lambda instance."""

    def __init__(self, settings: RegistrationSettings, registrar: Registrar):
        self._settings = settings
        self._registrar = registrar
        self._metadata = authorization_server_metadata(settings).model_dump_json()

    def handle(self, event: Event) -> Response:
        http = event.get("requestContext", {}).get("http", {})
        method, path = http.get("method", ""), event.get("rawPath", "")
        if method == "OPTIONS" and path in (REGISTER_PATH, METADATA_PATH):
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
            return self._register(event, http.get("sourceIp", "unknown"))
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
    return Edge(settings, Registrar(settings, CognitoAppClients(cognito, settings), limiter))


def handler(event: Event, context: object) -> Response:
    """The Lambda handler: ``servers.registration.handler.handler``."""
    # API Gateway's id, so that a log line can be found from the access log and back.
    request_id_var.set(event.get("requestContext", {}).get("requestId") or new_request_id())
    return _edge().handle(event)
