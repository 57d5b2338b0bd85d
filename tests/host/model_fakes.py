"""Stand-ins for the model providers' HTTP APIs, served over real HTTP on loopback, so that the
real SDKs (boto3, anthropic, openai) make real requests and parse real streams.

Each stand-in replays the answers a test queues, in order, and keeps every request it was sent.
The Bedrock one holds requests, events and errors to botocore's ``bedrock-runtime`` model.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import botocore.session
from botocore.validate import ParamValidator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.devidp.live import serve


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    chunks: tuple[bytes, ...]


@dataclass
class Replay:
    """Answers queued by a test, and the requests received (path and JSON body)."""

    answers: list[Answer] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.requests.append((request.url.path, body))
        rejection = self.check(request, body)
        if rejection is not None:
            return rejection
        answer = self.answers.pop(0)

        async def chunks() -> Any:
            for chunk in answer.chunks:
                yield chunk

        return StreamingResponse(chunks(), status_code=answer.status, headers=answer.headers)

    def check(self, request: Request, body: dict[str, Any]) -> Response | None:
        """A stand-in's own validation of a request; None accepts it."""
        return None


@contextmanager
def served(replay: Replay) -> Iterator[str]:
    app = Starlette(routes=[Route("/{path:path}", replay.handle, methods=["POST"])])
    with serve(lambda _base: app) as base_url:
        yield base_url


def sse(events: Iterable[tuple[str | None, Any]]) -> tuple[bytes, ...]:
    """Server-sent events, one chunk each: ``(event name or None, data)``; data that is not a
    string is sent as JSON."""
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {name}\n" if name else ""
        out.append(f"{head}data: {text}\n\n".encode())
    return tuple(out)


def json_answer(status: int, body: dict[str, Any]) -> Answer:
    return Answer(status, {"content-type": "application/json"}, (json.dumps(body).encode(),))


# --- Amazon Bedrock ConverseStream ---------------------------------------------------------

BEDROCK = botocore.session.get_session().get_service_model("bedrock-runtime")
CONVERSE_STREAM = BEDROCK.operation_model("ConverseStream")
STREAM_SHAPE = CONVERSE_STREAM.output_shape.members["stream"]


def shape_errors(params: dict[str, Any], shape: Any) -> str:
    """botocore's complaints about ``params`` against ``shape`` ("" when there are none)."""
    report = ParamValidator().validate(params, shape)
    return report.generate_report() if report.has_errors() else ""


class BedrockStandIn(Replay):
    """ConverseStream at ``POST /model/{modelId}/converse-stream``. A request that botocore's
    input shape would refuse is answered ``ValidationException`` and kept in ``invalid``."""

    def __init__(self) -> None:
        super().__init__()
        self.invalid: list[str] = []

    def check(self, request: Request, body: dict[str, Any]) -> Response | None:
        path = request.url.path
        prefix, suffix = "/model/", "/converse-stream"
        if not (path.startswith(prefix) and path.endswith(suffix)):
            return Response(status_code=404)
        params = {"modelId": unquote(path[len(prefix) : -len(suffix)]), **body}
        errors = shape_errors(params, CONVERSE_STREAM.input_shape)
        if errors:
            self.invalid.append(errors)
            answer = bedrock_error("ValidationException")
            return Response(answer.chunks[0], answer.status, answer.headers)
        return None

    def stream(self, *events: dict[str, Any]) -> None:
        """Queue a 200 answer streaming ``events`` (each ``{member: payload}`` of the model's
        ``ConverseStreamOutput``; exception members end the stream as the service does)."""
        frames = []
        for event in events:
            ((member, payload),) = event.items()
            shape = STREAM_SHAPE.members[member]
            errors = shape_errors(payload, shape)
            assert not errors, f"the stand-in's {member} event does not match the model: {errors}"
            kind = "exception" if shape.metadata.get("exception") else "event"
            headers = {":message-type": kind, ":content-type": "application/json"}
            headers[":exception-type" if kind == "exception" else ":event-type"] = member
            frames.append(eventstream_frame(headers, json.dumps(payload).encode()))
        self.answers.append(
            Answer(200, {"content-type": "application/vnd.amazon.eventstream"}, tuple(frames))
        )

    def fail(self, code: str) -> None:
        """Queue an error answer of the operation (its HTTP status from the model)."""
        self.answers.append(bedrock_error(code))


def bedrock_error(code: str) -> Answer:
    shapes = {shape.name: shape for shape in CONVERSE_STREAM.error_shapes}
    status = shapes[code].metadata["error"]["httpStatusCode"]
    return Answer(
        status,
        {"content-type": "application/json", "x-amzn-errortype": code},
        (json.dumps({"message": f"secret detail of {code}"}).encode(),),
    )


def eventstream_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of the AWS event stream encoding (string headers; CRC32 checksums)."""
    encoded = b"".join(
        bytes([len(name)])
        + name.encode()
        + b"\x07"
        + struct.pack(">H", len(value))
        + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))
