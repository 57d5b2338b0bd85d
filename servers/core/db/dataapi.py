"""The Aurora backend: the same SQL over the RDS Data API (boto3 ``rds-data``).

Each :meth:`DataApiDatabase.transaction` is a Data API transaction: ``BeginTransaction``, one
``ExecuteStatement`` per statement, then ``CommitTransaction`` or ``RollbackTransaction``. boto3 is
synchronous, so every call runs in a worker thread; at most ``max_concurrency`` transactions are
open at once (the others wait for a slot, as with a connection pool).

Values travel as typed Data API fields. Strings that stand for other PostgreSQL types carry a
``typeHint`` (DATE, TIMESTAMP, JSON, DECIMAL, UUID); results are converted back by the column's
PostgreSQL type name, so rows look exactly like the psycopg backend's.

SQL errors arrive as ``DatabaseErrorException`` (``BadRequestException`` on Aurora Serverless v1)
whose message is the PostgreSQL JDBC driver's rendering of the server error followed by the
SQLSTATE, for example::

    ERROR: duplicate key value violates unique constraint "customers_email_key"
      Detail: Key (email)=(a@example.com) already exists.; SQLState: 23505

Only the first line (without the severity) becomes the :class:`DatabaseError` message: the detail
lines can quote row values.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from .base import DatabaseError, DatabaseUnavailable, Json, Params, Row

if TYPE_CHECKING:
    from mypy_boto3_rds_data import RDSDataServiceClient
    from mypy_boto3_rds_data.type_defs import (
        ExecuteStatementRequestTypeDef,
        ExecuteStatementResponseTypeDef,
        FieldOutputTypeDef,
        SqlParameterTypeDef,
    )

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_CONCURRENCY = 20

# Codes whose message may carry a PostgreSQL error.
SQL_ERROR_CODES = frozenset({"DatabaseErrorException", "BadRequestException"})
# Failures of reaching or waking the database, not of the statement: worth a retry later.
UNAVAILABLE_CODES = frozenset(
    {
        "DatabaseUnavailableException",
        "DatabaseResumingException",
        "ServiceUnavailableError",
        "InternalServerErrorException",
        "ThrottlingException",
    }
)
# The Data API's own statement time limit; PostgreSQL reports a cancelled statement as 57014.
QUERY_CANCELED = "57014"

_SQLSTATE = re.compile(r"; SQLState: ([0-9A-Z]{5})\s*\Z")
_SEVERITY = re.compile(r"\A(?:ERROR|FATAL|PANIC):\s*")
_POSITION = re.compile(r";\s*Position: \d+\Z")
_CONSTRAINT = re.compile(r'\bconstraint "([^"]+)"')
_TIMESTAMP = re.compile(
    r"\A(\d{4,}-\d{2}-\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|[+-]00(?::?00)?)?\Z"
)
_MAX_MESSAGE = 300


@dataclass(frozen=True)
class ParsedError:
    """A PostgreSQL error as reported inside a Data API error message."""

    message: str
    sqlstate: str | None
    constraint: str | None


def parse_error_message(message: str) -> ParsedError:
    """Split a Data API SQL error message into its primary text, SQLSTATE and constraint.

    The SQLSTATE is taken only from the very end: detail lines quote row values, which may
    themselves contain text that looks like ``; SQLState: 23505``.
    """
    match = _SQLSTATE.search(message)
    sqlstate = match[1] if match else None
    body = message[: match.start()] if match else message
    primary = _POSITION.sub("", _SEVERITY.sub("", body.split("\n", 1)[0])).strip()
    constraint = None
    if sqlstate is not None and sqlstate.startswith("23"):
        found = _CONSTRAINT.search(primary)
        constraint = found[1] if found else None
    return ParsedError(primary, sqlstate, constraint)


def translate_client_error(exc: ClientError, operation: str) -> DatabaseError:
    """A :class:`DatabaseError` for a failed Data API call, without SQL text or row values.

    SQL errors carry their SQLSTATE, and ``StatementTimeoutException`` carries 57014, what
    PostgreSQL reports for a cancelled statement. Every other failure
    (``DatabaseUnavailableException``, ``DatabaseResumingException``, ``ServiceUnavailableError``,
    throttling, a lost transaction, ...) has ``sqlstate=None``.
    """
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or "")
    if code in SQL_ERROR_CODES:
        parsed = parse_error_message(message)
        if parsed.sqlstate is not None:
            return DatabaseError(
                parsed.message or code, sqlstate=parsed.sqlstate, constraint=parsed.constraint
            )
    first_line = message.split("\n", 1)[0][:_MAX_MESSAGE]
    text = f"RDS Data API {operation} failed: {code}" + (f": {first_line}" if first_line else "")
    if code == "StatementTimeoutException":
        return DatabaseError(text, sqlstate=QUERY_CANCELED)
    if code in UNAVAILABLE_CODES:
        return DatabaseUnavailable(text)
    return DatabaseError(text)


# Parameters -----------------------------------------------------------------------------------


def encode_parameter(name: str, value: Any) -> SqlParameterTypeDef:
    """One named Data API parameter for a Python value."""
    if value is None:
        return {"name": name, "value": {"isNull": True}}
    # bool before int: True is an int too.
    if isinstance(value, bool):
        return {"name": name, "value": {"booleanValue": value}}
    if isinstance(value, int):
        return {"name": name, "value": {"longValue": value}}
    if isinstance(value, float):
        return {"name": name, "value": {"doubleValue": value}}
    if isinstance(value, str):
        return {"name": name, "value": {"stringValue": value}}
    if isinstance(value, Decimal):
        return {"name": name, "value": {"stringValue": str(value)}, "typeHint": "DECIMAL"}
    # datetime before date: a datetime is a date too.
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise TypeError(f"parameter {name!r}: naive datetime {value!r}; use an aware one")
        text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return {"name": name, "value": {"stringValue": text}, "typeHint": "TIMESTAMP"}
    if isinstance(value, date):
        return {"name": name, "value": {"stringValue": value.isoformat()}, "typeHint": "DATE"}
    if isinstance(value, Json):
        text = json.dumps(value.value)
        return {"name": name, "value": {"stringValue": text}, "typeHint": "JSON"}
    if isinstance(value, uuid.UUID):
        return {"name": name, "value": {"stringValue": str(value)}, "typeHint": "UUID"}
    if isinstance(value, bytes):
        return {"name": name, "value": {"blobValue": value}}
    raise TypeError(
        f"parameter {name!r}: cannot send a {type(value).__name__} over the RDS Data API"
    )


def encode_parameters(params: Params | None) -> list[SqlParameterTypeDef]:
    return [encode_parameter(name, value) for name, value in (params or {}).items()]


# Results --------------------------------------------------------------------------------------


def parse_timestamp(text: str) -> datetime:
    """An aware UTC datetime from the Data API's ``YYYY-MM-DD HH:MM:SS[.fffffffff]``."""
    match = _TIMESTAMP.match(text)
    if match is None:
        raise DatabaseError(f"unexpected timestamp from the RDS Data API: {text!r}")
    day, hour, minute, second, fraction = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    parsed = date.fromisoformat(day)
    return datetime(
        parsed.year, parsed.month, parsed.day, int(hour), int(minute), int(second), micro, UTC
    )


def _decode_string(text: str, type_name: str) -> Any:
    if type_name == "date":
        return date.fromisoformat(text)
    if type_name in ("timestamptz", "timestamp"):
        return parse_timestamp(text)
    if type_name in ("json", "jsonb"):
        return json.loads(text)
    if type_name in ("numeric", "decimal"):
        return Decimal(text)
    return text


def _decode_array(array: Mapping[str, Any]) -> list[Any]:
    if "arrayValues" in array:
        return [_decode_array(a) for a in array["arrayValues"]]
    for key in ("booleanValues", "longValues", "doubleValues", "stringValues"):
        if key in array:
            return list(array[key])
    return []


def decode_field(field: FieldOutputTypeDef, type_name: str) -> Any:
    """The Python value of one result field of a column of PostgreSQL type ``type_name``."""
    if field.get("isNull"):
        return None
    if "booleanValue" in field:
        return field["booleanValue"]
    if "longValue" in field:
        return field["longValue"]
    if "doubleValue" in field:
        return field["doubleValue"]
    if "stringValue" in field:
        return _decode_string(field["stringValue"], type_name)
    if "blobValue" in field:
        return field["blobValue"]
    if "arrayValue" in field:
        return _decode_array(field["arrayValue"])
    raise DatabaseError(f"unsupported field in an RDS Data API result: {sorted(field)}")


def decode_rows(response: ExecuteStatementResponseTypeDef) -> list[Row]:
    columns = [
        (c.get("label") or c.get("name") or "?column?", c.get("typeName", ""))
        for c in response.get("columnMetadata", [])
    ]
    return [
        {
            name: decode_field(f, type_name)
            for (name, type_name), f in zip(columns, rec, strict=True)
        }
        for rec in response.get("records", [])
    ]


# The backend ----------------------------------------------------------------------------------


class DataApiTransaction:
    """Statements of one Data API transaction, sent one at a time; with no transaction id
    (``read()``), statements that each commit on their own.

    The service refuses a statement while another of the same transaction is running
    ("Transaction is still running a query"), so concurrent callers queue on a lock.
    """

    def __init__(self, db: DataApiDatabase, transaction_id: str | None):
        self._db = db
        self.transaction_id = transaction_id
        self._lock = anyio.Lock()

    async def _run(self, sql: str, params: Params | None) -> ExecuteStatementResponseTypeDef:
        parameters = encode_parameters(params)
        async with self._lock:
            return await self._db.execute_statement(sql, parameters, self.transaction_id)

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        return decode_rows(await self._run(sql, params))

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        rows = decode_rows(await self._run(sql, params))
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Params | None = None) -> int:
        response = await self._run(sql, params)
        # A statement that returns rows (SELECT, ... RETURNING) may report no update count, and
        # psycopg's rowcount is then the number of rows; one that returns none has no records.
        return max(response.get("numberOfRecordsUpdated", 0), len(response.get("records", [])))


class DataApiDatabase:
    """A :class:`~servers.core.db.base.Database` over the RDS Data API."""

    def __init__(
        self,
        client: RDSDataServiceClient,
        *,
        resource_arn: str,
        secret_arn: str,
        database: str,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ):
        self._client = client
        self._resource_arn = resource_arn
        self._secret_arn = secret_arn
        self._database = database
        # Transactions are limited, not calls: a call blocked on a row lock holds its thread, and
        # if every thread were held by waiters, the lock holder's next statement would never run.
        # With at most one call in flight per transaction, threads never run out.
        self._open_transactions = anyio.CapacityLimiter(max_concurrency)
        self._threads = anyio.CapacityLimiter(max_concurrency)

    async def _call(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(call, limiter=self._threads)
        except ClientError as exc:
            raise translate_client_error(exc, operation) from exc
        except (BotocoreConnectionError, HTTPClientError) as exc:
            raise DatabaseUnavailable(
                f"RDS Data API {operation} failed: {type(exc).__name__}"
            ) from exc
        except BotoCoreError as exc:
            # The text of some botocore errors quotes request parameters; the name is enough.
            raise DatabaseError(f"RDS Data API {operation} failed: {type(exc).__name__}") from exc

    async def execute_statement(
        self, sql: str, parameters: list[SqlParameterTypeDef], transaction_id: str | None
    ) -> ExecuteStatementResponseTypeDef:
        request: ExecuteStatementRequestTypeDef = {
            "resourceArn": self._resource_arn,
            "secretArn": self._secret_arn,
            "database": self._database,
            "sql": sql,
            "parameters": parameters,
            "includeResultMetadata": True,
            "formatRecordsAs": "NONE",
        }
        # Without a transactionId the statement commits on its own (it may not be sent empty).
        if transaction_id is not None:
            request["transactionId"] = transaction_id
        return await self._call(
            "ExecuteStatement", partial(self._client.execute_statement, **request)
        )

    async def _rollback(self, transaction_id: str) -> None:
        try:
            await self._call(
                "RollbackTransaction",
                partial(
                    self._client.rollback_transaction,
                    resourceArn=self._resource_arn,
                    secretArn=self._secret_arn,
                    transactionId=transaction_id,
                ),
            )
        except DatabaseError as exc:
            # After a failed statement the service has already ended the transaction, so the
            # rollback finds nothing; the caller's exception is the one that matters.
            log.debug("Data API rollback did not complete: %s", exc)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DataApiTransaction]:
        async with self._open_transactions, self._transaction() as tx:
            yield tx

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[DataApiTransaction]:
        begun = await self._call(
            "BeginTransaction",
            partial(
                self._client.begin_transaction,
                resourceArn=self._resource_arn,
                secretArn=self._secret_arn,
                database=self._database,
            ),
        )
        tx = DataApiTransaction(self, begun["transactionId"])
        try:
            yield tx
        except BaseException:
            # Shielded so that a cancelled caller still releases the server-side transaction.
            with anyio.CancelScope(shield=True):
                await self._rollback(begun["transactionId"])
            raise
        await self._call(
            "CommitTransaction",
            partial(
                self._client.commit_transaction,
                resourceArn=self._resource_arn,
                secretArn=self._secret_arn,
                transactionId=begun["transactionId"],
            ),
        )

    def read(self) -> AbstractAsyncContextManager[DataApiTransaction]:
        return self.autocommit()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[DataApiTransaction]:
        yield DataApiTransaction(self, None)

    async def close(self) -> None:
        self._client.close()


def connect_dataapi(
    resource_arn: str,
    secret_arn: str,
    database: str,
    region: str,
    *,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
) -> DataApiDatabase:
    """A :class:`DataApiDatabase` with its own boto3 client (default credential chain)."""
    config = Config(
        region_name=region,
        max_pool_connections=max_concurrency,
        connect_timeout=5,
        # Longer than the Data API's own 45-second statement limit.
        read_timeout=60,
        # No SDK retries: a resent ExecuteStatement may run its statement twice inside the
        # transaction. Whole transactions are the unit to retry.
        retries={"total_max_attempts": 1},
    )
    client: RDSDataServiceClient = boto3.session.Session().client("rds-data", config=config)
    return DataApiDatabase(
        client,
        resource_arn=resource_arn,
        secret_arn=secret_arn,
        database=database,
        max_concurrency=max_concurrency,
    )
