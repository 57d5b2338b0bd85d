"""A local stand-in for Amazon SES v2 ``SendEmail``, held to the service's model by botocore.

:meth:`LocalSes.client` returns a real boto3 ``sesv2`` client whose calls never leave the
process, as :mod:`ticketing.local_aws.dataapi` does for the RDS Data API (both are built on
:mod:`ticketing.local_aws.botocore_shapes`): botocore validates and serializes each request
against the ``sesv2`` model before its ``before-call`` event, where the stand-in answers; every
answer is checked against the operation's output (or error) shape before botocore parses it.
On top of the model, it checks what the service checks: exactly one kind of content, a raw
message that parses as MIME with the headers a delivery needs, and, without
``FromEmailAddress``, a From header.
Errors to answer with can be queued with :meth:`fail_next`.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import TYPE_CHECKING, Any

from botocore.awsrequest import AWSResponse

from ticketing.local_aws.botocore_shapes import (
    LOCAL_CONFIG,
    Body,
    enum_violations,
    json_answer,
    local_session,
    validate_shape,
)

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

LOCAL_SES_ENDPOINT = "http://sesv2.local.invalid"
# The service's own limit on a raw message, after base64 decoding.
MAX_RAW_BYTES = 40 * 1024 * 1024
_REQUIRED_HEADERS = ("From", "To", "Subject", "Message-ID", "Date")


@dataclass(frozen=True)
class SentEmail:
    ses_message_id: str
    request: Body
    email: EmailMessage


class _Refusal(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class LocalSes:
    """Accepted e-mails in :attr:`sent`; thread-safe, as boto3 calls come from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[tuple[str, str]] = []
        self.sent: list[SentEmail] = []
        self.requests = 0

    def fail_next(self, code: str, message: str = "refused by the stand-in") -> None:
        """Answer the next SendEmail with this modeled error (e.g. ``TooManyRequestsException``)."""
        with self._lock:
            self._failures.append((code, message))

    def client(self, *, region: str = "us-west-2") -> SESV2Client:
        client: SESV2Client = local_session(region).client(
            "sesv2", endpoint_url=LOCAL_SES_ENDPOINT, config=LOCAL_CONFIG
        )
        client.meta.events.register("before-call.sesv2", self._on_before_call)
        return client

    def _on_before_call(
        self, *, model: Any, params: Mapping[str, Any], **_: Any
    ) -> tuple[AWSResponse, Body]:
        with self._lock:
            self.requests += 1
            failure = self._failures.pop(0) if self._failures else None
        if model.name != "SendEmail":
            raise NotImplementedError(f"the local SES does not implement {model.name}")
        request = json.loads(params["body"] or b"{}")
        try:
            violations = list(enum_violations(request, model.input_shape))
            if violations:
                raise _Refusal("BadRequestException", "; ".join(violations))
            if failure is not None:
                raise _Refusal(*failure)
            sent = self._send(request)
        except _Refusal as refusal:
            return self._error(model, params["url"], refusal)
        return self._respond(model, params["url"], 200, {"MessageId": sent.ses_message_id}, {})

    def _send(self, request: Body) -> SentEmail:
        content = request.get("Content", {})
        kinds = [k for k in ("Simple", "Raw", "Template") if k in content]
        if len(kinds) != 1:
            raise _Refusal("BadRequestException", "Content must have exactly one of its members")
        if kinds != ["Raw"]:
            raise NotImplementedError("the local SES only takes raw messages")
        raw = base64.b64decode(content["Raw"]["Data"])
        if len(raw) > MAX_RAW_BYTES:
            raise _Refusal("MessageRejected", "Message length is more than 40 MB")
        parsed = message_from_bytes(raw, policy=default)
        assert isinstance(parsed, EmailMessage)
        missing = [h for h in _REQUIRED_HEADERS if parsed[h] is None]
        if missing:
            raise _Refusal("MessageRejected", f"Missing required header(s): {missing}")
        if parsed.defects:
            raise _Refusal("MessageRejected", f"Malformed message: {parsed.defects[0]!r}")
        destination = request.get("Destination", {}).get("ToAddresses", [])
        if destination and destination != [str(parsed["To"])]:
            raise _Refusal("BadRequestException", "Destination does not match the To header")
        sent = SentEmail(f"0100{uuid.uuid4().hex}-000000", request, parsed)
        with self._lock:
            self.sent.append(sent)
        return sent

    def _error(self, model: Any, url: str, refusal: _Refusal) -> tuple[AWSResponse, Body]:
        shape = model.service_model.shape_for_error_code(refusal.code)
        if shape is None:
            raise AssertionError(f"{refusal.code} is not an error of the sesv2 model")
        modeled = {k: v for k, v in {"message": refusal.message}.items() if k in shape.members}
        validate_shape(modeled, shape, refusal.code)
        return self._respond(
            model,
            url,
            shape.metadata["error"]["httpStatusCode"],
            {"message": refusal.message},
            {"x-amzn-ErrorType": refusal.code},
            validate=False,
        )

    @staticmethod
    def _respond(
        model: Any,
        url: str,
        status: int,
        body: Body,
        headers: dict[str, str],
        *,
        validate: bool = True,
    ) -> tuple[AWSResponse, Body]:
        if validate:
            validate_shape(body, model.output_shape)
        return json_answer(model, url, status, body, headers)
