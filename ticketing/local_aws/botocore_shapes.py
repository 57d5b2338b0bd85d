"""What the local stand-ins of AWS services share (the RDS Data API's in
:mod:`ticketing.local_aws.dataapi`, SES v2's in :mod:`ticketing.local_aws.ses`).

Each hands out a real boto3 client (:func:`local_session`, :data:`LOCAL_CONFIG`) whose calls never
leave the process: botocore validates and serializes every request against the service model,
then the stand-in answers in the ``before-call`` event with :func:`json_answer`, which botocore
parses as it would parse the wire. Answers are held to the model with :func:`validate_shape`;
requests' enums, which botocore leaves to the service, with :func:`enum_violations`.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.endpoint import convert_to_response_dict
from botocore.parsers import create_parser

Body = dict[str, Any]

# Explicit, so that no AWS config file can switch off the check the stand-ins rely on; one
# attempt, so that a refusal the stand-in was told to answer with is seen as it is.
LOCAL_CONFIG = Config(parameter_validation=True, retries={"total_max_attempts": 1})


def local_session(region: str) -> boto3.session.Session:
    """A boto3 session for a stand-in's client, with credentials that are never used: requests
    are answered before they would be signed."""
    return boto3.session.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106
        region_name=region,
    )


def json_answer(
    model: Any, url: str, status: int, body: Body, headers: dict[str, str]
) -> tuple[AWSResponse, Body]:
    """The HTTP response of ``body`` (blobs base64-encoded, as on the wire) and what botocore
    parses of it with the operation's output shape."""
    wire = json.dumps(body, default=lambda b: base64.b64encode(b).decode()).encode()
    http = AWSResponse(
        url,
        status,
        {
            "x-amzn-RequestId": str(uuid.uuid4()),
            "Content-Type": "application/json",
            "Content-Length": str(len(wire)),
            **headers,
        },
        _RawBody(wire),
    )
    return http, parse(model, http, model.output_shape)


def parse(model: Any, http: AWSResponse, shape: Any) -> Body:
    """What botocore makes of a response, read with ``shape``."""
    parser = create_parser(model.service_model.protocol)
    parsed: Body = parser.parse(convert_to_response_dict(http, model), shape)
    return parsed


# Validating responses against the service model ----------------------------------------------


def validate_shape(value: Any, shape: Any, path: str = "response") -> None:
    """Raise AssertionError unless ``value`` fits the botocore ``shape`` (recursively).

    Values are what the service would send before JSON encoding: blobs as ``bytes``, timestamps
    as ``datetime``. Unknown structure members, missing required ones and tagged unions with other
    than exactly one member set all fail.
    """
    kind = shape.type_name
    if shape.metadata.get("document"):
        # A document is any JSON value, as the service stores it.
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise AssertionError(f"{path}: not a JSON document: {exc}") from None
    elif kind == "structure":
        _check(isinstance(value, dict), path, f"a {shape.name} structure", value)
        unknown = sorted(set(value) - set(shape.members))
        require(not unknown, f"{path}: {shape.name} has no member(s) {unknown}")
        missing = [m for m in shape.required_members if m not in value]
        require(not missing, f"{path}: {shape.name} lacks required member(s) {missing}")
        if shape.is_tagged_union:
            require(len(value) == 1, f"{path}: union {shape.name} must set one member: {value!r}")
        for name, member in value.items():
            validate_shape(member, shape.members[name], f"{path}.{name}")
    elif kind == "list":
        _check(isinstance(value, list), path, "a list", value)
        _check_length(len(value), shape, path)
        for i, item in enumerate(value):
            validate_shape(item, shape.member, f"{path}[{i}]")
    elif kind == "map":
        _check(isinstance(value, dict), path, "a map", value)
        for key, item in value.items():
            validate_shape(key, shape.key, f"{path} key {key!r}")
            validate_shape(item, shape.value, f"{path}[{key!r}]")
    elif kind == "string":
        _check(isinstance(value, str), path, "a string", value)
        _check_length(len(value), shape, path)
        if shape.enum:
            require(value in shape.enum, f"{path}: {value!r} is not one of {shape.enum}")
    elif kind in ("integer", "long"):
        _check(isinstance(value, int) and not isinstance(value, bool), path, kind, value)
        _check_range(value, shape, path)
    elif kind == "boolean":
        _check(isinstance(value, bool), path, "a boolean", value)
    elif kind in ("double", "float"):
        ok = isinstance(value, float | int) and not isinstance(value, bool)
        _check(ok, path, kind, value)
    elif kind == "blob":
        _check(isinstance(value, bytes), path, "bytes (a blob)", value)
    elif kind == "timestamp":
        _check(isinstance(value, datetime), path, "a datetime", value)
    else:
        raise AssertionError(f"{path}: no validation for shape type {kind!r}")


def enum_violations(value: Any, shape: Any, path: str = "request") -> Iterator[str]:
    """Values of a (wire-form) request outside their shape's enum.

    botocore's parameter validation checks types, not enums (they are open on the client side);
    the service refuses unknown values.
    """
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in value.items():
            if name in shape.members:
                yield from enum_violations(member, shape.members[name], f"{path}.{name}")
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            yield from enum_violations(item, shape.member, f"{path}[{i}]")
    elif kind == "string" and shape.enum and value not in shape.enum:
        yield f"{path}: {value!r} is not one of {shape.enum}"


def require(ok: bool, complaint: str) -> None:
    # Not an assert statement: the check must survive ``python -O``.
    if not ok:
        raise AssertionError(complaint)


def _check(ok: bool, path: str, expected: str, value: Any) -> None:
    require(ok, f"{path}: expected {expected}, got {type(value).__name__} {value!r}")


def _check_length(length: int, shape: Any, path: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    require(low is None or length >= low, f"{path}: length {length} is below the minimum {low}")
    require(high is None or length <= high, f"{path}: length {length} is above the maximum {high}")


def _check_range(value: int, shape: Any, path: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    require(low is None or value >= low, f"{path}: {value} is below the minimum {low}")
    require(high is None or value <= high, f"{path}: {value} is above the maximum {high}")


class _RawBody:
    """The ``raw`` of a botocore response: something with ``stream()``."""

    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body
