"""A stand-in for Amazon Cognito's ``cognito-idp`` API, held to botocore's service model.

:meth:`LocalCognito.client` hands out a real boto3 client whose calls never leave the process.
botocore validates and serializes each request against the ``cognito-idp`` model, then emits
``before-call``; the stand-in answers there and botocore parses the answer as it would the wire.
botocore checks types, required members and minimum lengths; the stand-in adds what the service
checks and botocore leaves to it (enums, maximum lengths and sizes, patterns), and holds every
answer to the operation's output or error shape.

The service rules it reproduces are the documented ones the registration edge relies on: an
unknown pool is ``ResourceNotFoundException``; scopes not defined in the pool are
``ScopeDoesNotExistException``; callback URLs must be absolute, without a fragment, and https
except ``http://localhost``; the code grant needs callback URLs; the pool has an app-client quota
(``LimitExceededException``). A test can make the next call fail with any modeled error.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.endpoint import convert_to_response_dict
from botocore.parsers import create_parser

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

Body = dict[str, Any]

# Never reached: answers are given before a request would be sent.
LOCAL_ENDPOINT = "https://cognito-idp.local.invalid"
STANDARD_SCOPES = ("openid", "email", "phone", "profile", "aws.cognito.signin.user.admin")


class ServiceError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class LocalCognito:
    """One user pool with resource-server scopes and an app-client quota."""

    def __init__(
        self,
        *,
        region: str = "eu-west-1",
        user_pool_id: str = "eu-west-1_Local1234",
        scopes: tuple[str, ...] = (),
        max_clients: int = 1000,
    ):
        self.region = region
        self.user_pool_id = user_pool_id
        self.scopes = frozenset(scopes) | frozenset(STANDARD_SCOPES)
        self.max_clients = max_clients
        self.clients: dict[str, Body] = {}
        self.requests: list[tuple[str, Body]] = []
        self.fail_next: str | None = None
        self._operations = {
            "CreateUserPoolClient": self._create_user_pool_client,
            "DescribeUserPoolClient": self._describe_user_pool_client,
            "ListUserPoolClients": self._list_user_pool_clients,
            "UpdateUserPoolClient": self._update_user_pool_client,
        }

    def client(self) -> CognitoIdentityProviderClient:
        session = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=self.region
        )
        client: CognitoIdentityProviderClient = session.client(
            "cognito-idp",
            endpoint_url=LOCAL_ENDPOINT,
            # Explicit, so that no AWS config can switch the model check off; one attempt, so
            # that an error the test asked for is seen once, as it is.
            config=Config(parameter_validation=True, retries={"total_max_attempts": 1}),
        )
        client.meta.events.register("before-call.cognito-identity-provider", self._on_call)
        return client

    def _on_call(self, *, model: Any, params: Mapping[str, Any], **_: Any) -> tuple[Any, Body]:
        operation = self._operations.get(model.name)
        if operation is None:
            raise NotImplementedError(f"the local Cognito does not implement {model.name}")
        request: Body = json.loads(params["body"] or b"{}")
        self.requests.append((model.name, request))
        try:
            violations = list(model_violations(request, model.input_shape))
            if violations:
                raise ServiceError(
                    "InvalidParameterException",
                    f"{len(violations)} validation error(s) detected: {'; '.join(violations)}",
                )
            if self.fail_next:
                code, self.fail_next = self.fail_next, None
                raise ServiceError(code, "failure requested by the test")
            body = operation(request)
        except ServiceError as err:
            return _error(model, params["url"], err)
        validate_shape(body, model.output_shape)
        return _answer(model, params["url"], 200, body, {})

    def _pool(self, request: Body) -> None:
        if request["UserPoolId"] != self.user_pool_id:
            raise ServiceError("ResourceNotFoundException", "User pool does not exist.")

    def _check_client(self, request: Body) -> None:
        unknown = sorted(set(request.get("AllowedOAuthScopes", [])) - self.scopes)
        if unknown:
            raise ServiceError("ScopeDoesNotExistException", f"Invalid scope requested: {unknown}")
        callbacks = request.get("CallbackURLs", [])
        for url in callbacks:
            parts = urlsplit(url)
            if not parts.scheme or not parts.netloc or parts.fragment:
                raise ServiceError("InvalidParameterException", f"Invalid callback URL {url}")
            if parts.scheme == "http" and parts.hostname != "localhost":
                raise ServiceError("InvalidParameterException", "http is for localhost only")
        if "code" in request.get("AllowedOAuthFlows", []) and not callbacks:
            raise ServiceError("InvalidOAuthFlowException", "code grant needs callback URLs")

    def _create_user_pool_client(self, request: Body) -> Body:
        self._pool(request)
        self._check_client(request)
        if len(self.clients) >= self.max_clients:
            raise ServiceError("LimitExceededException", "app client limit exceeded")
        now = datetime.now(UTC)
        client: Body = {
            **{k: v for k, v in request.items() if k not in ("GenerateSecret", "ClientSecret")},
            "ClientId": secrets.token_hex(13),
            "CreationDate": now,
            "LastModifiedDate": now,
        }
        if request.get("GenerateSecret"):
            client["ClientSecret"] = secrets.token_urlsafe(40)
        self.clients[client["ClientId"]] = client
        return {"UserPoolClient": client}

    def _describe_user_pool_client(self, request: Body) -> Body:
        self._pool(request)
        client = self.clients.get(request["ClientId"])
        if client is None:
            raise ServiceError("ResourceNotFoundException", "User pool client does not exist.")
        return {"UserPoolClient": client}

    def _list_user_pool_clients(self, request: Body) -> Body:
        # Pages in creation order; the token is the index of the next client.
        self._pool(request)
        start = int(request.get("NextToken") or 0)
        size = request.get("MaxResults", 60)
        page = list(self.clients.values())[start : start + size]
        body: Body = {
            "UserPoolClients": [
                {
                    "ClientId": c["ClientId"],
                    "UserPoolId": c["UserPoolId"],
                    "ClientName": c["ClientName"],
                }
                for c in page
            ]
        }
        if start + size < len(self.clients):
            body["NextToken"] = str(start + size)
        return body

    def _update_user_pool_client(self, request: Body) -> Body:
        # Like the service: what the request leaves out is reset, not kept.
        self._pool(request)
        old = self.clients.get(request["ClientId"])
        if old is None:
            raise ServiceError("ResourceNotFoundException", "User pool client does not exist.")
        self._check_client(request)
        client: Body = {
            **request,
            "ClientName": request.get("ClientName", old["ClientName"]),
            "CreationDate": old["CreationDate"],
            "LastModifiedDate": datetime.now(UTC),
        }
        self.clients[client["ClientId"]] = client
        return {"UserPoolClient": client}


# The model, as the service applies it ------------------------------------------------------


def model_violations(value: Any, shape: Any, path: str = "request") -> Iterator[str]:
    """Where a (wire-form) request breaks its model's enums, maxima and patterns: the checks
    botocore leaves to the service."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in value.items():
            if name in shape.members:
                yield from model_violations(member, shape.members[name], f"{path}.{name}")
    elif kind == "list" and isinstance(value, list):
        high = shape.metadata.get("max")
        if high is not None and len(value) > high:
            yield f"{path}: {len(value)} members, above the maximum {high}"
        for i, item in enumerate(value):
            yield from model_violations(item, shape.member, f"{path}[{i}]")
    elif kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            yield f"{path}: {value!r} is not one of {shape.enum}"
        high = shape.metadata.get("max")
        if high is not None and len(value) > high:
            yield f"{path}: length {len(value)} above the maximum {high}"
        pattern = shape.metadata.get("pattern")
        if pattern and not _matches(pattern, value):
            yield f"{path}: {value!r} does not match {pattern}"
    elif kind in ("integer", "long") and isinstance(value, int):
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            yield f"{path}: {value} outside [{low}, {high}]"


_CATEGORY_CLASS = re.compile(r"^\[((?:\\p\{[A-Z]\})+)\]\+$")


def _matches(pattern: str, value: str) -> bool:
    # The model's patterns are Java regular expressions. Those made only of Unicode general
    # categories (``[\p{L}\p{M}...]+``) are checked with unicodedata, which Python's re lacks.
    categories = _CATEGORY_CLASS.match(pattern)
    if categories:
        allowed = tuple(re.findall(r"\\p\{([A-Z])\}", categories.group(1)))
        return bool(value) and all(unicodedata.category(c).startswith(allowed) for c in value)
    if r"\p{" in pattern:
        raise NotImplementedError(f"pattern {pattern} is not supported by the stand-in")
    # Java's ``\w``, ``\s`` and ``\d`` are ASCII classes unless a flag says otherwise.
    return re.fullmatch(pattern, value, re.ASCII) is not None


def validate_shape(value: Any, shape: Any, path: str = "response") -> None:
    """Raise AssertionError unless an answer (timestamps as datetimes) fits its shape."""
    kind = shape.type_name
    if kind == "structure":
        _require(isinstance(value, dict), f"{path}: expected a {shape.name} structure")
        unknown = sorted(set(value) - set(shape.members))
        _require(not unknown, f"{path}: {shape.name} has no member(s) {unknown}")
        missing = [m for m in shape.required_members if m not in value]
        _require(not missing, f"{path}: {shape.name} lacks required member(s) {missing}")
        for name, member in value.items():
            validate_shape(member, shape.members[name], f"{path}.{name}")
    elif kind == "list":
        _require(isinstance(value, list), f"{path}: expected a list")
        for i, item in enumerate(value):
            validate_shape(item, shape.member, f"{path}[{i}]")
    elif kind == "string":
        _require(isinstance(value, str), f"{path}: expected a string")
        _require(not shape.enum or value in shape.enum, f"{path}: {value!r} not in the enum")
        _require(not list(model_violations(value, shape, path)), f"{path}: breaks the model")
    elif kind in ("integer", "long"):
        _require(isinstance(value, int) and not isinstance(value, bool), f"{path}: not {kind}")
    elif kind == "boolean":
        _require(isinstance(value, bool), f"{path}: expected a boolean")
    elif kind == "timestamp":
        _require(isinstance(value, datetime), f"{path}: expected a datetime")
    else:
        raise AssertionError(f"{path}: no validation for shape type {kind!r}")


def _require(ok: bool, complaint: str) -> None:
    # Not an assert statement: the check must survive ``python -O``.
    if not ok:
        raise AssertionError(complaint)


# The wire ----------------------------------------------------------------------------------


def _wire(value: Any) -> Any:
    # JSON protocol: timestamps as epoch seconds, blobs base64.
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _answer(
    model: Any, url: str, status: int, body: Body, headers: dict[str, str]
) -> tuple[AWSResponse, Body]:
    """The HTTP response of ``body`` and what botocore parses of it (an ``Error`` for a status
    of 300 and more, the operation's output otherwise)."""
    wire = json.dumps(_wire(body)).encode()
    http = AWSResponse(
        url,
        status,
        {
            "x-amzn-RequestId": str(uuid.uuid4()),
            "Content-Type": "application/x-amz-json-1.1",
            "Content-Length": str(len(wire)),
            **headers,
        },
        _RawBody(wire),
    )
    parser = create_parser(model.service_model.protocol)
    parsed: Body = parser.parse(convert_to_response_dict(http, model), model.output_shape)
    return http, parsed


def _error(model: Any, url: str, err: ServiceError) -> tuple[AWSResponse, Body]:
    shape = model.service_model.shape_for_error_code(err.code)
    _require(shape is not None, f"{err.code} is not an error of the cognito-idp model")
    _require(
        err.code in [e.name for e in model.error_shapes], f"{model.name} never raises {err.code}"
    )
    body: Body = {"message": err.message}
    validate_shape(body, shape, err.code)
    # The cognito-idp model gives its errors no status; the service answers 400, and 500 for
    # its own faults.
    status = 500 if shape.metadata.get("fault") or err.code == "InternalErrorException" else 400
    return _answer(model, url, status, {"__type": err.code, **body}, {})


class _RawBody:
    """The ``raw`` of a botocore response: something with ``stream()``."""

    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body
