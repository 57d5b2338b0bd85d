"""A local stand-in for the RDS Data API, held to the service's model by botocore itself.

:func:`local_rds_data_client` returns a real boto3 ``rds-data`` client whose calls never leave the
process. A handler on the client's ``before-call.rds-data`` event runs each request on real
PostgreSQL and hands botocore an HTTP response, which botocore then parses as usual. botocore
emits that event only after it has validated and serialized the request, so every call is checked
against the ``rds-data`` service model first (types, required members, unions; botocore leaves
enum values to the service, so the stand-in checks those); every response the stand-in produces is
checked against the operation's output (or error) shape by
:func:`~ticketing.local_aws.botocore_shapes.validate_shape` before botocore parses it.

What it reproduces of the service (Aurora PostgreSQL, Serverless v2 / provisioned):

- one PostgreSQL connection per ``transactionId``, session time zone UTC; statements without a
  ``transactionId`` autocommit on a connection of their own;
- parameters bound the way the service's JDBC driver binds them: ``stringValue`` as ``varchar``,
  ``longValue`` as ``int8``, strings hinted DATE/TIME/TIMESTAMP untyped (the server infers the
  type), JSON/DECIMAL/UUID as ``json``/``numeric``/``uuid``; so a string without a hint is *not*
  a date, a JSON document or a UUID;
- results as typed fields, ``columnMetadata`` with PostgreSQL type names, timestamps in UTC as
  ``YYYY-MM-DD HH:MM:SS[.ffffff]``, ``formatRecordsAs="JSON"``;
- one statement per call (several are refused by PostgreSQL's extended query protocol);
- SQL errors as ``DatabaseErrorException`` with the JDBC driver's message and ``; SQLState: XXXXX``;
  a failed statement ends its transaction, so later calls get ``TransactionNotFoundException``;
- a second statement sent while one of the same transaction is running is refused.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from botocore.awsrequest import AWSResponse
from psycopg.adapt import AdaptersMap
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.numeric import Int8Dumper
from psycopg.types.string import StrDumper, StrDumperUnknown, StrDumperVarchar, TextLoader

from servers.core.db.postgres import to_pyformat

from .botocore_shapes import (
    LOCAL_CONFIG,
    Body,
    enum_violations,
    json_answer,
    local_session,
    parse,
    require,
    validate_shape,
)

if TYPE_CHECKING:
    from mypy_boto3_rds_data import RDSDataServiceClient

LOCAL_ENDPOINT = "http://rds-data.local.invalid"
LOCAL_RESOURCE_ARN = "arn:aws:rds:us-west-2:000000000000:cluster:local-data-api"
LOCAL_SECRET_ARN = "arn:aws:secretsmanager:us-west-2:000000000000:secret:local-data-api-AbCdEf"  # noqa: S105


# Binding parameters like the service's JDBC driver --------------------------------------------


class _Untyped(str):
    """Sent with no type, as the JDBC driver sends dates and timestamps: the server infers it."""


class _JsonText(str):
    pass


class _NumericText(str):
    pass


class _UuidText(str):
    pass


def _text_dumper(type_name: str) -> type[StrDumper]:
    class Dumper(StrDumper):
        oid = psycopg.adapters.types[type_name].oid

    return Dumper


def _adapters() -> AdaptersMap:
    adapters = AdaptersMap(psycopg.adapters)
    adapters.register_dumper(str, StrDumperVarchar)
    adapters.register_dumper(int, Int8Dumper)
    adapters.register_dumper(_Untyped, StrDumperUnknown)
    adapters.register_dumper(_JsonText, _text_dumper("json"))
    adapters.register_dumper(_NumericText, _text_dumper("numeric"))
    adapters.register_dumper(_UuidText, _text_dumper("uuid"))
    # The service returns these as strings in PostgreSQL's own text form.
    for type_name in ("json", "jsonb", "numeric", "uuid", "interval", "time", "timetz", "money"):
        adapters.register_loader(type_name, TextLoader)
    return adapters


_ADAPTERS = _adapters()

_HINT_FORMATS = {
    "DATE": re.compile(r"\A\d{4}-\d{2}-\d{2}\Z"),
    "TIME": re.compile(r"\A\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?\Z"),
    "TIMESTAMP": re.compile(r"\A\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,9})?\Z"),
}
_TYPED_HINTS: dict[str, Callable[[str], str]] = {
    "JSON": _JsonText,
    "DECIMAL": _NumericText,
    "UUID": _UuidText,
}


class ServiceError(Exception):
    """An error response of the service: a modeled exception code and its message."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _bad_request(message: str) -> ServiceError:
    return ServiceError("BadRequestException", message)


def _bind_string(name: str, text: str, hint: str | None) -> str:
    if hint is None:
        return text
    if hint in _HINT_FORMATS:
        if not _HINT_FORMATS[hint].match(text):
            raise _bad_request(f"Parameter {name}: {text!r} is not a valid {hint} value")
        return _Untyped(text)
    return _TYPED_HINTS[hint](text)


def _bind_value(name: str, value: Mapping[str, Any], hint: str | None) -> Any:
    if len(value) != 1:
        raise _bad_request(f"Parameter {name} must have exactly one value")
    ((kind, raw),) = value.items()
    if hint is not None and kind != "stringValue":
        raise _bad_request(f"Parameter {name}: typeHint {hint} needs a stringValue")
    if kind == "isNull":
        return None
    if kind == "stringValue":
        return _bind_string(name, raw, hint)
    if kind == "blobValue":
        return base64.b64decode(raw)
    if kind == "arrayValue":
        raise _bad_request("Array parameters are not supported.")
    return raw


def _bind(parameters: list[Mapping[str, Any]]) -> dict[str, Any]:
    bound: dict[str, Any] = {}
    for parameter in parameters:
        name = parameter.get("name")
        if not name:
            raise _bad_request("Parameters must be named")
        bound[name] = _bind_value(name, parameter.get("value", {}), parameter.get("typeHint"))
    return bound


# Results as the service renders them ----------------------------------------------------------

# java.sql.Types codes the service reports as ColumnMetadata.type.
_JDBC_TYPES = {
    "bool": -7,
    "int2": 5,
    "int4": 4,
    "int8": -5,
    "float4": 7,
    "float8": 8,
    "numeric": 2,
    "bpchar": 1,
    "varchar": 12,
    "text": 12,
    "name": 12,
    "date": 91,
    "time": 92,
    "timetz": 92,
    "timestamp": 93,
    "timestamptz": 93,
    "bytea": -2,
}
_JDBC_ARRAY = 2003
_JDBC_OTHER = 1111


def format_timestamp(value: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS[.ffffff]`` in UTC (aware values), trailing zeros dropped."""
    if value.utcoffset() is not None:
        value = value.astimezone(UTC)
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    return f"{text}.{value.microsecond:06d}".rstrip("0") if value.microsecond else text


def _scalar_text(value: date) -> str:
    return format_timestamp(value) if isinstance(value, datetime) else value.isoformat()


def _field(value: Any) -> Body:
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, date):
        return {"stringValue": _scalar_text(value)}
    if isinstance(value, bytes):
        return {"blobValue": value}
    if isinstance(value, list):
        return {"arrayValue": _array(value)}
    raise ServiceError(
        "UnsupportedResultException", f"The result contains an unsupported data type: {value!r}"
    )


def _array(values: list[Any]) -> Body:
    if any(isinstance(v, list) for v in values):
        return {"arrayValues": [_array(v) for v in values]}
    for key, kind in (
        ("booleanValues", bool),
        ("longValues", int),
        ("doubleValues", float),
        ("stringValues", str),
    ):
        if all(type(v) is kind for v in values):
            return {key: values}
    if all(isinstance(v, date) for v in values):
        return {"stringValues": [_scalar_text(v) for v in values]}
    raise ServiceError(
        "UnsupportedResultException", "The result contains an array the stand-in cannot render"
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, date):
        return _scalar_text(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _sql_error(exc: psycopg.Error) -> ServiceError:
    """The service's rendering of a PostgreSQL error: the JDBC driver's text plus the SQLSTATE."""
    if exc.sqlstate is None:
        # Raised by the client side (a missing parameter, a lost connection): no SQLSTATE.
        return ServiceError("DatabaseErrorException", f"ERROR: {str(exc).splitlines()[0]}")
    diag = exc.diag
    text = f"{diag.severity_nonlocalized or 'ERROR'}: {diag.message_primary or ''}"
    for label, part in (
        ("Detail", diag.message_detail),
        ("Hint", diag.message_hint),
        ("Position", diag.statement_position),
        ("Where", diag.context),
    ):
        if part:
            text += f"\n  {label}: {part}"
    return ServiceError("DatabaseErrorException", f"{text}; SQLState: {exc.sqlstate}")


# The service ----------------------------------------------------------------------------------


@dataclass
class _Transaction:
    conn: psycopg.Connection[tuple[Any, ...]]
    busy: threading.Lock = field(default_factory=threading.Lock)


class LocalDataApi:
    """The stand-in service for one PostgreSQL database; :meth:`client` talks to it.

    Thread-safe: clients may be called from many threads at once.
    """

    def __init__(self, database_url: str):
        self._url = database_url
        self._lock = threading.Lock()
        self._transactions: dict[str, _Transaction] = {}
        self._type_names: dict[int, str] = {}
        self.requests_handled = 0
        self.statements_executed = 0
        self._operations: dict[str, Callable[[Body], Body]] = {
            "BeginTransaction": self._begin_transaction,
            "ExecuteStatement": self._execute_statement,
            "CommitTransaction": self._commit_transaction,
            "RollbackTransaction": self._rollback_transaction,
        }

    @property
    def dbname(self) -> str:
        """The database of the URL: pass it as ``database`` in requests."""
        return str(conninfo_to_dict(self._url).get("dbname") or "postgres")

    @property
    def open_transactions(self) -> int:
        with self._lock:
            return len(self._transactions)

    def client(self, *, region: str = "us-west-2") -> RDSDataServiceClient:
        """A real boto3 ``rds-data`` client whose every call is served by this stand-in."""
        client: RDSDataServiceClient = local_session(region).client(
            "rds-data", endpoint_url=LOCAL_ENDPOINT, config=LOCAL_CONFIG
        )
        client.meta.events.register("before-call.rds-data", self._on_before_call)
        return client

    def close(self) -> None:
        """Roll back and close the connections of transactions still open."""
        with self._lock:
            open_now = list(self._transactions.values())
            self._transactions.clear()
        for tx in open_now:
            tx.conn.close()

    # botocore's side

    def _on_before_call(
        self, *, model: Any, params: Mapping[str, Any], **_: Any
    ) -> tuple[AWSResponse, Body]:
        with self._lock:
            self.requests_handled += 1
        operation = self._operations.get(model.name)
        if operation is None:
            raise NotImplementedError(f"the local RDS Data API does not implement {model.name}")
        request = json.loads(params["body"] or b"{}")
        try:
            violations = list(enum_violations(request, model.input_shape))
            if violations:
                raise _bad_request("; ".join(violations))
            return self._respond(model, params["url"], operation(request))
        except ServiceError as err:
            return self._respond_error(model, params["url"], err)

    def _respond(self, model: Any, url: str, body: Body) -> tuple[AWSResponse, Body]:
        validate_shape(body, model.output_shape)
        return json_answer(model, url, 200, body, {})

    def _respond_error(self, model: Any, url: str, err: ServiceError) -> tuple[AWSResponse, Body]:
        shape = model.service_model.shape_for_error_code(err.code)
        require(shape is not None, f"{err.code} is not an error of the rds-data model")
        body: Body = {"message": err.message} if "message" in shape.members else {}
        validate_shape(body, shape, err.code)
        status = shape.metadata["error"]["httpStatusCode"]
        http, parsed = json_answer(model, url, status, body, {"x-amzn-ErrorType": err.code})
        # As botocore's endpoint does: the modeled fields of the error join the parsed response.
        parsed.update(parse(model, http, shape))
        return http, parsed

    # PostgreSQL's side

    def _connect(self, database: str | None) -> psycopg.Connection[tuple[Any, ...]]:
        conninfo = make_conninfo(self._url, dbname=database) if database else self._url
        try:
            conn = psycopg.connect(
                conninfo, autocommit=True, prepare_threshold=None, context=_ADAPTERS
            )
        except psycopg.Error as exc:
            raise _sql_error(exc) from exc
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    def _claim(self, transaction_id: str) -> _Transaction:
        """The open transaction, marked busy until the caller releases ``busy``."""
        with self._lock:
            tx = self._transactions.get(transaction_id)
        if tx is None:
            raise ServiceError(
                "TransactionNotFoundException", f"Transaction {transaction_id} is not found"
            )
        if not tx.busy.acquire(blocking=False):
            raise ServiceError("DatabaseErrorException", "Transaction is still running a query")
        with self._lock:
            ended = self._transactions.get(transaction_id) is not tx
        if ended:
            tx.busy.release()
            raise ServiceError(
                "TransactionNotFoundException", f"Transaction {transaction_id} is not found"
            )
        return tx

    def _end(self, transaction_id: str) -> None:
        with self._lock:
            tx = self._transactions.pop(transaction_id, None)
        if tx is not None:
            tx.conn.close()

    def _begin_transaction(self, request: Body) -> Body:
        conn = self._connect(request.get("database"))
        conn.autocommit = False
        transaction_id = base64.b64encode(secrets.token_bytes(96)).decode()
        with self._lock:
            self._transactions[transaction_id] = _Transaction(conn)
        return {"transactionId": transaction_id}

    def _finish(self, request: Body, finish: Callable[[psycopg.Connection[Any]], None]) -> None:
        transaction_id = request["transactionId"]
        tx = self._claim(transaction_id)
        try:
            finish(tx.conn)
        except psycopg.Error as exc:
            raise _sql_error(exc) from exc
        finally:
            self._end(transaction_id)
            tx.busy.release()

    def _commit_transaction(self, request: Body) -> Body:
        self._finish(request, lambda conn: conn.commit())
        return {"transactionStatus": "Transaction Committed"}

    def _rollback_transaction(self, request: Body) -> Body:
        self._finish(request, lambda conn: conn.rollback())
        return {"transactionStatus": "Rollback Complete"}

    def _execute_statement(self, request: Body) -> Body:
        parameters = _bind(request.get("parameters", []))
        transaction_id = request.get("transactionId")
        if transaction_id is None:
            conn = self._connect(request.get("database"))
            try:
                return self._run(conn, request, parameters)
            finally:
                conn.close()
        tx = self._claim(transaction_id)
        try:
            return self._run(tx.conn, request, parameters)
        except ServiceError:
            # The service aborts a transaction whose statement failed.
            self._end(transaction_id)
            raise
        finally:
            tx.busy.release()

    def _run(
        self, conn: psycopg.Connection[tuple[Any, ...]], request: Body, parameters: dict[str, Any]
    ) -> Body:
        with self._lock:
            self.statements_executed += 1
        try:
            # Pipeline mode always uses the extended query protocol, which refuses several
            # statements in one string, as the service does.
            with conn.pipeline():
                cur = conn.execute(to_pyformat(request["sql"]), parameters)
            description = cur.description
            rows = cur.fetchall() if description is not None else []
        except psycopg.Error as exc:
            raise _sql_error(exc) from exc
        if description is None:
            return {"numberOfRecordsUpdated": max(cur.rowcount, 0), "generatedFields": []}
        labels = [column.name for column in description]
        if request.get("formatRecordsAs") == "JSON":
            records = [
                {label: _json_value(v) for label, v in zip(labels, row, strict=True)}
                for row in rows
            ]
            return {"formattedRecords": json.dumps(records), "numberOfRecordsUpdated": 0}
        response: Body = {
            "records": [[_field(v) for v in row] for row in rows],
            "numberOfRecordsUpdated": 0,
        }
        if request.get("includeResultMetadata"):
            response["columnMetadata"] = [
                self._column_metadata(conn, label, column.type_code)
                for label, column in zip(labels, description, strict=True)
            ]
        return response

    def _column_metadata(
        self, conn: psycopg.Connection[tuple[Any, ...]], label: str, oid: int
    ) -> Body:
        type_name = self._type_name(conn, oid)
        jdbc = _JDBC_ARRAY if type_name.startswith("_") else _JDBC_TYPES.get(type_name)
        return {
            "name": label,
            "label": label,
            "typeName": type_name,
            "type": _JDBC_OTHER if jdbc is None else jdbc,
        }

    def _type_name(self, conn: psycopg.Connection[tuple[Any, ...]], oid: int) -> str:
        info = psycopg.adapters.types.get(oid)
        if info is not None:
            # Arrays are named as in pg_type: _int4, _text, ...
            return f"_{info.name}" if info.array_oid == oid else info.name
        with self._lock:
            known = self._type_names.get(oid)
        if known is not None:
            return known
        row = conn.execute(
            "SELECT typname FROM pg_catalog.pg_type WHERE oid = CAST(%s AS oid)", [oid]
        ).fetchone()
        name = str(row[0]) if row else "unknown"
        with self._lock:
            self._type_names[oid] = name
        return name


def local_rds_data_client(database_url: str, *, region: str = "us-west-2") -> RDSDataServiceClient:
    """A boto3 ``rds-data`` client served by a :class:`LocalDataApi` over ``database_url``.

    Requests should name the URL's database (``LocalDataApi(url).dbname``) or none. Use
    :class:`LocalDataApi` directly to inspect the stand-in or to close transactions left open.
    """
    return LocalDataApi(database_url).client(region=region)
