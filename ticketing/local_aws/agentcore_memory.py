"""A local stand-in for Amazon Bedrock AgentCore Memory's data plane, held to the service's model
by botocore itself, as :mod:`ticketing.local_aws.dataapi` does for the RDS Data API.

:meth:`LocalAgentCoreMemory.boto3_session` returns a real boto3 session; every
``bedrock-agentcore`` client made from it (the SDK's ``MemoryClient`` and
``MemorySessionManager`` make their own) is answered in the process. botocore validates and
serializes each request against the ``bedrock-agentcore`` model before its ``before-call``
event, where the stand-in reads the request as the service would (the path of the operation's
URI template, the JSON body, timestamps as epoch seconds), checks what botocore leaves to the
service (enums, patterns, maximum lengths) and answers; every answer is checked against the
operation's output (or error) shape before botocore parses it. Calls to the control plane
(``bedrock-agentcore-control``) are refused: the memory resource is made by infrastructure.

What it reproduces: events per (memory, actor, session), listed oldest first in pages of
``maxResults`` (default 20); long-term records created with ``BatchCreateMemoryRecords`` and
retrieved by exact ``namespace`` or ``namespacePath`` prefix. Not the service's extraction
strategies (a model that turns events into records, asynchronously) nor its vector search:
``RetrieveMemoryRecords`` ranks a namespace's records by how many of the query's words they
share, newest first among equals, so every record comes back while there are no more than
``topK``.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import boto3
import botocore.loaders
import botocore.session
from botocore.awsrequest import AWSResponse

from .botocore_shapes import Body, json_answer, parse, require, validate_shape

LOCAL_MEMORY_ID = "concierge_memory-Loc4lT3st0"
"""The one memory the stand-in holds, unless told of others."""
DIRECT_STRATEGY_ID = "direct"
"""The stand-in's ``memoryStrategyId`` for records created directly rather than extracted."""
_DEFAULT_PAGE = 20
_DEFAULT_TOP_K = 10
_WORD = re.compile(r"[a-z0-9]+")


class ServiceError(Exception):
    """An error answer of the service: a modeled exception code and its fields."""

    def __init__(self, code: str, message: str, **fields: Any):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.body: Body = {"message": message, **fields}


def _invalid(message: str) -> ServiceError:
    return ServiceError("ValidationException", message, reason="FieldValidationFailed")


@dataclass(frozen=True)
class _Record:
    record_id: str
    namespace: str
    text: str
    strategy_id: str
    created_at: datetime


class LocalAgentCoreMemory:
    """The stand-in service; thread-safe, as the SDK's calls run in worker threads."""

    def __init__(self, memory_ids: tuple[str, ...] = (LOCAL_MEMORY_ID,)):
        self._lock = threading.Lock()
        self._memories = set(memory_ids)
        self._events: dict[tuple[str, str, str], list[Body]] = {}
        self._records: dict[str, list[_Record]] = {m: [] for m in memory_ids}
        self.requests: list[str] = []
        self._boto3_sessions: dict[str, boto3.session.Session] = {}
        self._operations: dict[str, Callable[[Body], tuple[int, Body]]] = {
            "CreateEvent": self._create_event,
            "ListEvents": self._list_events,
            "BatchCreateMemoryRecords": self._batch_create_memory_records,
            "RetrieveMemoryRecords": self._retrieve_memory_records,
        }

    def boto3_session(self, *, region: str = "us-west-2") -> boto3.session.Session:
        """A boto3 session whose ``bedrock-agentcore`` clients are all served by this stand-in;
        the same one for a region each time, so the service models are loaded once."""
        with self._lock:
            session = self._boto3_sessions.get(region)
            if session is None:
                core = botocore.session.Session()
                core.register_component("data_loader", _shared_loader())
                session = boto3.session.Session(
                    botocore_session=core,
                    aws_access_key_id="local",
                    aws_secret_access_key="local",  # noqa: S106
                    region_name=region,
                )
                session.events.register("before-call.bedrock-agentcore", self._on_before_call)
                session.events.register("before-call.bedrock-agentcore-control", _control_plane)
                self._boto3_sessions[region] = session
        return session

    def records(self, memory_id: str = LOCAL_MEMORY_ID) -> list[tuple[str, str]]:
        """Every long-term record of a memory as (namespace, text), oldest first."""
        with self._lock:
            return [(r.namespace, r.text) for r in self._records[memory_id]]

    def all_event_payloads(self) -> list[Any]:
        """Every payload of every event held, for tests that look for what must not be kept."""
        with self._lock:
            return [p for events in self._events.values() for e in events for p in e["payload"]]

    # botocore's side

    def _on_before_call(
        self, *, model: Any, params: Mapping[str, Any], **_: Any
    ) -> tuple[AWSResponse, Body]:
        with self._lock:
            self.requests.append(model.name)
        operation = self._operations.get(model.name)
        if operation is None:
            raise NotImplementedError(f"the local AgentCore Memory does not implement {model.name}")
        try:
            request = _read_request(model, params)
            violations = list(_violations(request, model.input_shape))
            if violations:
                raise _invalid("; ".join(violations))
            memory_id = request["memoryId"]
            with self._lock:
                known = memory_id in self._memories
            if not known:
                raise ServiceError("ResourceNotFoundException", f"Memory {memory_id} not found")
            status, body = operation(request)
        except ServiceError as err:
            return _error(model, params["url"], err)
        validate_shape(body, model.output_shape)
        return json_answer(model, params["url"], status, _to_wire(body), {})

    # The operations

    def _create_event(self, request: Body) -> tuple[int, Body]:
        if "sessionId" not in request:
            raise _invalid("sessionId is required for conversational events")
        key = (request["memoryId"], request["actorId"], request["sessionId"])
        millis = int(request["eventTimestamp"].timestamp() * 1000)
        event: Body = {
            "memoryId": request["memoryId"],
            "actorId": request["actorId"],
            "sessionId": request["sessionId"],
            "eventId": f"{millis}#{secrets.token_hex(8)}",
            "eventTimestamp": request["eventTimestamp"],
            "payload": request["payload"],
        }
        for optional in ("branch", "metadata"):
            if optional in request:
                event[optional] = request[optional]
        with self._lock:
            events = self._events.setdefault(key, [])
            events.append(event)
            # Oldest first; a stable sort keeps the order of events of one instant.
            events.sort(key=lambda e: e["eventTimestamp"])
        return 201, {"event": event}

    def _list_events(self, request: Body) -> tuple[int, Body]:
        key = (request["memoryId"], request["actorId"], request["sessionId"])
        with self._lock:
            events = list(self._events.get(key, []))
        start = _page_start(request)
        size = request.get("maxResults", _DEFAULT_PAGE)
        page = events[start : start + size]
        if not request.get("includePayloads", True):
            page = [{**e, "payload": []} for e in page]
        body: Body = {"events": page}
        if start + size < len(events):
            body["nextToken"] = str(start + size)
        return 200, body

    def _batch_create_memory_records(self, request: Body) -> tuple[int, Body]:
        created: list[Body] = []
        with self._lock:
            held = self._records[request["memoryId"]]
            for record in request["records"]:
                if len(record["namespaces"]) != 1 or "text" not in record["content"]:
                    raise _invalid("a record needs one namespace and text content")
                record_id = f"mem-{secrets.token_hex(18)}"
                held.append(
                    _Record(
                        record_id,
                        record["namespaces"][0],
                        record["content"]["text"],
                        record.get("memoryStrategyId", DIRECT_STRATEGY_ID),
                        record["timestamp"],
                    )
                )
                created.append(
                    {
                        "memoryRecordId": record_id,
                        "status": "SUCCEEDED",
                        "requestIdentifier": record["requestIdentifier"],
                    }
                )
        return 201, {"successfulRecords": created, "failedRecords": []}

    def _retrieve_memory_records(self, request: Body) -> tuple[int, Body]:
        exact, prefix = request.get("namespace"), request.get("namespacePath")
        if (exact is None) == (prefix is None):
            raise _invalid("exactly one of namespace and namespacePath is required")
        criteria = request["searchCriteria"]
        words = set(_WORD.findall(criteria["searchQuery"].lower()))
        with self._lock:
            held = list(self._records[request["memoryId"]])

        def wanted(record: _Record) -> bool:
            if exact is not None:
                return bool(record.namespace == exact)
            return record.namespace.startswith(str(prefix))

        found = [
            r
            for r in held
            if wanted(r) and r.strategy_id == criteria.get("memoryStrategyId", r.strategy_id)
        ]

        def score(record: _Record) -> float:
            return len(words & set(_WORD.findall(record.text.lower()))) / max(len(words), 1)

        found.sort(key=lambda r: (score(r), r.created_at), reverse=True)
        top = found[: min(criteria.get("topK", _DEFAULT_TOP_K), request.get("maxResults", 100))]
        return 200, {
            "memoryRecordSummaries": [
                {
                    "memoryRecordId": r.record_id,
                    "content": {"text": r.text},
                    "memoryStrategyId": r.strategy_id,
                    "namespaces": [r.namespace],
                    "createdAt": r.created_at,
                    "score": score(r),
                }
                for r in top
            ]
        }


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    """One loader for every stand-in, so the large service models are read from disk once."""
    return botocore.loaders.create_loader()


def _control_plane(*, model: Any, **_: Any) -> None:
    raise NotImplementedError(
        f"the local AgentCore Memory has no control plane ({model.name}): memories are made by "
        "infrastructure"
    )


def _page_start(request: Body) -> int:
    token = request.get("nextToken")
    if token is None:
        return 0
    if not token.isdigit():
        raise _invalid("nextToken is not a token this service gave")
    return int(token)


# Reading requests as the service does -------------------------------------------------------


def _read_request(model: Any, params: Mapping[str, Any]) -> Body:
    """The request's members from its URI path and JSON body, timestamps as datetimes."""
    template = model.http["requestUri"].split("?")[0]
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    matched = re.fullmatch(pattern, params["url_path"])
    if matched is None:
        raise ServiceError(
            "ValidationException", "The request path matches no operation", reason="CannotParse"
        )
    request: Body = {name: unquote(value) for name, value in matched.groupdict().items()}
    body = json.loads(params["body"] or b"{}")
    if not isinstance(body, dict):
        raise ServiceError(
            "ValidationException", "The body is not a JSON object", reason="CannotParse"
        )
    shape = model.input_shape
    for name, value in body.items():
        member = shape.members.get(name)
        if member is None or member.serialization.get("location") is not None:
            raise _invalid(f"{name} is not a member of the request body")
        request[name] = _from_wire(value, member)
    return request


def _from_wire(value: Any, shape: Any) -> Any:
    if shape.metadata.get("document"):
        return value
    kind = shape.type_name
    if kind == "timestamp":
        if not isinstance(value, int | float):
            raise _invalid(f"{shape.name}: expected epoch seconds, got {value!r}")
        return datetime.fromtimestamp(value, UTC)
    if kind == "structure" and isinstance(value, dict):
        return {
            k: _from_wire(v, shape.members[k]) if k in shape.members else v
            for k, v in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [_from_wire(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _from_wire(v, shape.value) for k, v in value.items()}
    return value


def _violations(value: Any, shape: Any, path: str = "request") -> Iterator[str]:
    """What the service checks and botocore does not: enums, patterns, maximum lengths and
    values, unknown members, and unions with other than one member set."""
    if shape.metadata.get("document"):
        return
    kind = shape.type_name
    high = shape.metadata.get("max")
    if kind == "structure" and isinstance(value, dict):
        unknown = sorted(set(value) - set(shape.members))
        if unknown:
            yield f"{path}: unknown member(s) {unknown}"
        if shape.is_tagged_union and len(value) != 1:
            yield f"{path}: exactly one member of {shape.name} must be set"
        for name, member in value.items():
            if name in shape.members:
                yield from _violations(member, shape.members[name], f"{path}.{name}")
    elif kind == "list" and isinstance(value, list):
        if high is not None and len(value) > high:
            yield f"{path}: more than {high} items"
        for i, item in enumerate(value):
            yield from _violations(item, shape.member, f"{path}[{i}]")
    elif kind == "map" and isinstance(value, dict):
        if high is not None and len(value) > high:
            yield f"{path}: more than {high} entries"
        for key, item in value.items():
            yield from _violations(key, shape.key, f"{path} key {key!r}")
            yield from _violations(item, shape.value, f"{path}[{key!r}]")
    elif kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            yield f"{path}: {value!r} is not one of {shape.enum}"
        if high is not None and len(value) > high:
            yield f"{path}: longer than {high} characters"
        pattern = shape.metadata.get("pattern")
        if pattern is not None and re.fullmatch(pattern, value) is None:
            yield f"{path}: {value!r} does not match {pattern}"
    elif kind in ("integer", "long") and high is not None and value > high:
        yield f"{path}: {value} is above the maximum {high}"


# Answering as the service does ---------------------------------------------------------------


def _to_wire(value: Any) -> Any:
    """Timestamps as epoch seconds, as rest-json sends them."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_wire(v) for v in value]
    return value


def _error(model: Any, url: str, err: ServiceError) -> tuple[AWSResponse, Body]:
    shape = model.service_model.shape_for_error_code(err.code)
    require(shape is not None, f"{err.code} is not an error of the bedrock-agentcore model")
    require(
        any(e.name == err.code for e in model.error_shapes),
        f"{model.name} cannot answer {err.code}",
    )
    validate_shape(err.body, shape, err.code)
    status = shape.metadata["error"]["httpStatusCode"]
    http, parsed = json_answer(model, url, status, err.body, {"x-amzn-ErrorType": err.code})
    parsed.update(parse(model, http, shape))
    return http, parsed
