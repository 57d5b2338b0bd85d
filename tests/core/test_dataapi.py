"""The RDS Data API backend, run against its local stand-in and side by side with psycopg."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

import anyio
import psycopg
import pytest
from botocore.exceptions import ClientError, ParamValidationError

from servers.core.db import Database, DatabaseError, DatabaseUnavailable, Json, Row
from servers.core.db.dataapi import (
    UNAVAILABLE_CODES,
    DataApiDatabase,
    encode_parameter,
    parse_error_message,
    parse_timestamp,
    translate_client_error,
)
from servers.core.db.postgres import PostgresDatabase
from ticketing.local_aws.botocore_shapes import validate_shape
from ticketing.local_aws.dataapi import (
    LOCAL_RESOURCE_ARN,
    LOCAL_SECRET_ARN,
    LocalDataApi,
    format_timestamp,
)

if TYPE_CHECKING:
    from mypy_boto3_rds_data.type_defs import SqlParameterTypeDef


class Arns(TypedDict):
    resourceArn: str
    secretArn: str


ARNS: Arns = {"resourceArn": LOCAL_RESOURCE_ARN, "secretArn": LOCAL_SECRET_ARN}

PROBE_DDL = (
    "CREATE TABLE public.probe ("
    " k text PRIMARY KEY, s text, i integer, big bigint, flag boolean, nothing text,"
    " day date, at timestamptz, doc jsonb, amount numeric(12, 4),"
    " CONSTRAINT probe_amount_not_negative CHECK (amount >= 0))"
)
INSERT_PROBE = (
    "INSERT INTO public.probe (k, s, i, big, flag, nothing, day, at, doc, amount) "
    "VALUES (:k, :s, :i, :big, :flag, :nothing, :day, :at, :doc, :amount)"
)


def probe_values(k: str, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "k": k,
        "s": "100% 'quoted' \"text\" ü :not_a_parameter",
        "i": -7,
        "big": 2**62 + 1,
        "flag": True,
        "nothing": None,
        "day": date(2026, 2, 28),
        "at": datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        "doc": {"a": 1, "b": [True, None, "ü"], "c": {"d": 1.5}},
        "amount": Decimal("12345.6789"),
    }
    values.update(changes)
    return values


def as_params(values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "doc": Json(values["doc"])}


@pytest.fixture
def local_api(database_url: str) -> Iterator[LocalDataApi]:
    api = LocalDataApi(database_url)
    yield api
    api.close()


@pytest.fixture
async def postgres_db(database_url: str) -> AsyncIterator[PostgresDatabase]:
    db = await PostgresDatabase(database_url, min_size=1, max_size=5).open()
    yield db
    await db.close()


@pytest.fixture
async def dataapi_db(local_api: LocalDataApi) -> AsyncIterator[DataApiDatabase]:
    db = DataApiDatabase(
        local_api.client(),
        resource_arn=LOCAL_RESOURCE_ARN,
        secret_arn=LOCAL_SECRET_ARN,
        database=local_api.dbname,
    )
    yield db
    await db.close()


@pytest.fixture(params=["postgres", "dataapi"])
def backend(request: pytest.FixtureRequest) -> Database:
    db: Database = request.getfixturevalue(f"{request.param}_db")
    return db


async def create_probe(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute(PROBE_DDL)


async def probe_keys(db: Database) -> list[str]:
    async with db.transaction() as tx:
        rows = await tx.fetch_all("SELECT k FROM public.probe ORDER BY k")
    return [r["k"] for r in rows]


# Both backends give the same rows --------------------------------------------------------------


async def test_every_type_round_trips_identically(
    postgres_db: PostgresDatabase, dataapi_db: DataApiDatabase
) -> None:
    await create_probe(postgres_db)
    written = {
        "by-postgres": probe_values("by-postgres"),
        "by-dataapi": probe_values(
            "by-dataapi",
            flag=False,
            at=datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
            doc={},
            amount=Decimal("0.0100"),
        ),
    }
    for db, key in ((postgres_db, "by-postgres"), (dataapi_db, "by-dataapi")):
        async with db.transaction() as tx:
            await tx.execute(INSERT_PROBE, as_params(written[key]))

    read: dict[str, list[Row]] = {}
    for name, db in (("postgres", postgres_db), ("dataapi", dataapi_db)):
        async with db.transaction() as tx:
            read[name] = await tx.fetch_all("SELECT * FROM public.probe ORDER BY k DESC")

    assert read["dataapi"] == read["postgres"]
    assert read["dataapi"] == [written["by-postgres"], written["by-dataapi"]]
    for pg_row, api_row in zip(read["postgres"], read["dataapi"], strict=True):
        assert {k: type(v) for k, v in api_row.items()} == {k: type(v) for k, v in pg_row.items()}
        assert api_row["at"].utcoffset() == timedelta(0)
        assert pg_row["at"].utcoffset() == timedelta(0)


# A setting made for the rest of the transaction (is_local): the next statement sees it only if
# both run in one transaction.
SET_FOR_THE_TRANSACTION = "SELECT set_config('probe.mark', 'set', true) AS mark"
MARK = "SELECT coalesce(current_setting('probe.mark', true), '') AS mark"


async def test_reads_run_each_statement_on_its_own(backend: Database) -> None:
    await create_probe(backend)
    async with backend.transaction() as tx:
        await tx.execute(INSERT_PROBE, as_params(probe_values("committed")))
    async with backend.read() as tx:
        assert [r["k"] for r in await tx.fetch_all("SELECT k FROM public.probe")] == ["committed"]
        assert await tx.fetch_one(SET_FOR_THE_TRANSACTION) == {"mark": "set"}
        assert await tx.fetch_one(MARK) == {"mark": ""}, "no transaction around the two"
    async with backend.transaction() as tx:
        await tx.fetch_one(SET_FOR_THE_TRANSACTION)
        assert await tx.fetch_one(MARK) == {"mark": "set"}


async def test_parameters_compare_with_columns_of_their_type(backend: Database) -> None:
    await create_probe(backend)
    values = probe_values("a")
    async with backend.transaction() as tx:
        await tx.execute(INSERT_PROBE, as_params(values))
        found = await tx.fetch_all(
            "SELECT k FROM public.probe WHERE s = :s AND i = :i AND big = :big AND flag = :flag"
            " AND day = :day AND at = :at AND amount = :amount AND doc = CAST(:doc AS jsonb)"
            " AND (CAST(:nothing AS text) IS NULL) AND nothing IS NOT DISTINCT FROM :nothing",
            {k: v for k, v in as_params(values).items() if k != "k"},
        )
        window = await tx.fetch_all(
            "SELECT CAST(d AS date) AS day FROM generate_series("
            " CAST(:start AS date), CAST(:end AS date), interval '1 day') AS d",
            {"start": date(2026, 2, 27), "end": date(2026, 3, 1)},
        )
        counted = await tx.fetch_one("SELECT count(*) AS n FROM public.probe")
    assert found == [{"k": "a"}]
    assert window == [
        {"day": date(2026, 2, 27)},
        {"day": date(2026, 2, 28)},
        {"day": date(2026, 3, 1)},
    ]
    assert counted == {"n": 1}


# Transactions ---------------------------------------------------------------------------------


async def test_commit_persists(backend: Database) -> None:
    await create_probe(backend)
    async with backend.transaction() as tx:
        await tx.execute(INSERT_PROBE, as_params(probe_values("kept")))
    assert await probe_keys(backend) == ["kept"]


async def test_an_exception_inside_the_transaction_rolls_it_back(backend: Database) -> None:
    await create_probe(backend)

    class Boom(Exception):
        pass

    seen_inside: list[Row | None] = []

    async def insert_then_fail() -> None:
        async with backend.transaction() as tx:
            await tx.execute(INSERT_PROBE, as_params(probe_values("dropped")))
            seen_inside.append(await tx.fetch_one("SELECT k FROM public.probe"))
            raise Boom

    with pytest.raises(Boom):
        await insert_then_fail()
    assert seen_inside == [{"k": "dropped"}]
    assert await probe_keys(backend) == []


@pytest.mark.parametrize(
    ("changes", "sqlstate", "constraint"),
    [
        pytest.param({}, "23505", "probe_pkey", id="unique"),
        pytest.param({"amount": Decimal(-1)}, "23514", "probe_amount_not_negative", id="check"),
    ],
)
async def test_constraint_violations_look_the_same(
    backend: Database, changes: dict[str, Any], sqlstate: str, constraint: str
) -> None:
    await create_probe(backend)
    async with backend.transaction() as tx:
        await tx.execute(INSERT_PROBE, as_params(probe_values("secret-key-value")))

    async def insert_twice() -> None:
        async with backend.transaction() as tx:
            await tx.execute(INSERT_PROBE, as_params(probe_values("other")))
            await tx.execute(INSERT_PROBE, as_params(probe_values("secret-key-value", **changes)))

    with pytest.raises(DatabaseError) as caught:
        await insert_twice()

    assert caught.value.sqlstate == sqlstate
    assert caught.value.constraint == constraint
    message = str(caught.value)
    assert constraint in message
    assert "secret-key-value" not in message
    assert "INSERT" not in message
    assert await probe_keys(backend) == ["secret-key-value"]


async def test_execute_returns_the_rows_affected(backend: Database) -> None:
    await create_probe(backend)
    async with backend.transaction() as tx:
        inserted = [
            await tx.execute(INSERT_PROBE, as_params(probe_values(k))) for k in ("a", "b", "c")
        ]
        counts = [
            await tx.execute("UPDATE public.probe SET i = i + 1"),
            await tx.execute("UPDATE public.probe SET i = 0 WHERE k = :k", {"k": "nope"}),
            await tx.execute("DELETE FROM public.probe WHERE k = :k", {"k": "c"}),
            await tx.execute("SELECT k FROM public.probe"),
            await tx.execute("UPDATE public.probe SET i = 1 RETURNING k"),
            await tx.execute(
                "INSERT INTO public.probe (k) VALUES (:k) ON CONFLICT DO NOTHING", {"k": "a"}
            ),
            await tx.execute("SELECT pg_advisory_xact_lock(:key)", {"key": 7_331_001}),
        ]
    assert inserted == [1, 1, 1]
    assert counts == [3, 0, 1, 2, 2, 0, 1]


async def test_concurrent_increments_under_for_update_are_exact(local_api: LocalDataApi) -> None:
    # Far more transactions than slots, all queueing on one row lock: no thread starvation.
    dataapi_db = DataApiDatabase(
        local_api.client(),
        resource_arn=LOCAL_RESOURCE_ARN,
        secret_arn=LOCAL_SECRET_ARN,
        database=local_api.dbname,
        max_concurrency=3,
    )
    async with dataapi_db.transaction() as tx:
        await tx.execute("CREATE TABLE public.counter (id integer PRIMARY KEY, n integer)")
        await tx.execute("INSERT INTO public.counter VALUES (1, 0)")

    async def increment() -> None:
        async with dataapi_db.transaction() as tx:
            row = await tx.fetch_one("SELECT n FROM public.counter WHERE id = 1 FOR UPDATE")
            assert row is not None
            await tx.execute("UPDATE public.counter SET n = :n WHERE id = 1", {"n": row["n"] + 1})

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(increment)

    async with dataapi_db.transaction() as tx:
        assert await tx.fetch_one("SELECT n FROM public.counter") == {"n": 20}
    assert local_api.open_transactions == 0


async def test_statements_issued_together_in_one_transaction_take_turns(
    dataapi_db: DataApiDatabase,
) -> None:
    results: dict[int, Row | None] = {}
    async with dataapi_db.transaction() as tx:

        async def query(i: int) -> None:
            results[i] = await tx.fetch_one("SELECT CAST(:i AS integer) * 2 AS n", {"i": i})

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(query, i)
    assert results == {i: {"n": 2 * i} for i in range(10)}


# The stand-in is checked against botocore's model ---------------------------------------------


@pytest.mark.parametrize(
    "malformed",
    [
        pytest.param({"parameters": [{"name": "x", "value": {"badKey": 1}}]}, id="unknown-field"),
        pytest.param({"parameters": [{"name": "x", "value": {"longValue": "1"}}]}, id="wrong-type"),
        pytest.param(
            {"parameters": [{"name": "x", "value": {"longValue": 1, "isNull": True}}]},
            id="two-union-members",
        ),
        pytest.param({"resourceArn": None}, id="missing-resource-arn"),
    ],
)
def test_botocore_rejects_malformed_requests_before_postgresql(
    local_api: LocalDataApi, database_url: str, malformed: dict[str, Any]
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.landed (x bigint)")
    client = local_api.client()
    request: dict[str, Any] = {
        **ARNS,
        "database": local_api.dbname,
        "sql": "INSERT INTO public.landed (x) VALUES (:x)",
        "parameters": [{"name": "x", "value": {"longValue": 1}}],
    }
    bad = {k: v for k, v in {**request, **malformed}.items() if v is not None}

    with pytest.raises(ParamValidationError):
        client.execute_statement(**bad)

    assert local_api.requests_handled == 0
    assert local_api.statements_executed == 0
    client.execute_statement(**request)
    assert local_api.requests_handled == 1
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT x FROM public.landed").fetchall() == [(1,)]


def test_unknown_enum_values_pass_botocore_but_not_the_stand_in(
    local_api: LocalDataApi, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.landed (x text)")
    client = local_api.client()
    parameters: Any = [{"name": "x", "value": {"stringValue": "1"}, "typeHint": "DATETIME"}]

    with pytest.raises(client.exceptions.BadRequestException, match="DATETIME"):
        client.execute_statement(
            **ARNS, sql="INSERT INTO public.landed (x) VALUES (:x)", parameters=parameters
        )

    assert local_api.requests_handled == 1
    assert local_api.statements_executed == 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT x FROM public.landed").fetchall() == []


def execute_statement_output_shape(local_api: LocalDataApi) -> Any:
    model = local_api.client().meta.service_model
    return model.operation_model("ExecuteStatement").output_shape


def test_the_validator_accepts_a_well_formed_response(local_api: LocalDataApi) -> None:
    validate_shape(
        {
            "records": [[{"longValue": 1}, {"isNull": True}, {"blobValue": b"\x00"}]],
            "columnMetadata": [{"name": "a", "label": "a", "typeName": "int8", "type": -5}],
            "numberOfRecordsUpdated": 0,
        },
        execute_statement_output_shape(local_api),
    )


@pytest.mark.parametrize(
    ("response", "complaint"),
    [
        pytest.param({"numberOfRecordsUpdated": "3"}, "expected long", id="string-for-long"),
        pytest.param({"numberOfRecordsUpdated": True}, "expected long", id="bool-for-long"),
        pytest.param({"rowCount": 3}, "no member", id="unknown-member"),
        pytest.param({"records": {"a": 1}}, "expected a list", id="map-for-list"),
        pytest.param(
            {"records": [[{"longValue": 1, "isNull": False}]]}, "one member", id="two-in-union"
        ),
        pytest.param({"records": [[{"blobValue": "AA=="}]]}, "bytes", id="str-for-blob"),
        pytest.param(
            {"columnMetadata": [{"name": "a", "nullable": 1.5}]}, "integer", id="float-for-int"
        ),
    ],
)
def test_the_validator_rejects_a_malformed_response(
    local_api: LocalDataApi, response: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(AssertionError, match=complaint):
        validate_shape(response, execute_statement_output_shape(local_api))


@pytest.mark.parametrize(
    "bad_response",
    [
        pytest.param({"transactionId": 42}, id="wrong-type"),
        pytest.param({"transactionId": "x" * 193}, id="too-long"),
        pytest.param({"transactionId": "t", "status": "ok"}, id="unknown-member"),
    ],
)
def test_the_stand_in_cannot_return_an_invalid_response(
    local_api: LocalDataApi, monkeypatch: pytest.MonkeyPatch, bad_response: dict[str, Any]
) -> None:
    monkeypatch.setitem(local_api._operations, "BeginTransaction", lambda request: bad_response)
    with pytest.raises(AssertionError, match=r"transactionId|status"):
        local_api.client().begin_transaction(**ARNS)


# The stand-in behaves like the service --------------------------------------------------------


def test_sql_errors_come_as_the_service_renders_them(local_api: LocalDataApi) -> None:
    client = local_api.client()
    client.execute_statement(**ARNS, sql="CREATE TABLE public.u (k text PRIMARY KEY)")
    insert = "INSERT INTO public.u VALUES ('dup')"
    client.execute_statement(**ARNS, sql=insert)

    with pytest.raises(client.exceptions.DatabaseErrorException) as caught:
        client.execute_statement(**ARNS, sql=insert)

    message = caught.value.response["Error"]["Message"]
    assert message == (
        'ERROR: duplicate key value violates unique constraint "u_pkey"\n'
        "  Detail: Key (k)=(dup) already exists.; SQLState: 23505"
    )
    assert caught.value.response["message"] == message
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_failed_statement_ends_its_transaction(local_api: LocalDataApi) -> None:
    client = local_api.client()
    transaction_id = client.begin_transaction(**ARNS)["transactionId"]
    with pytest.raises(client.exceptions.DatabaseErrorException, match="SQLState: 42P01"):
        client.execute_statement(**ARNS, sql="SELECT * FROM nowhere", transactionId=transaction_id)

    with pytest.raises(client.exceptions.TransactionNotFoundException, match="is not found"):
        client.execute_statement(**ARNS, sql="SELECT 1", transactionId=transaction_id)
    assert local_api.open_transactions == 0


def test_commit_and_rollback_report_their_status(local_api: LocalDataApi) -> None:
    client = local_api.client()
    committed = client.begin_transaction(**ARNS)["transactionId"]
    rolled_back = client.begin_transaction(**ARNS)["transactionId"]
    assert local_api.open_transactions == 2

    assert client.commit_transaction(**ARNS, transactionId=committed)["transactionStatus"] == (
        "Transaction Committed"
    )
    status = client.rollback_transaction(**ARNS, transactionId=rolled_back)["transactionStatus"]
    assert status == "Rollback Complete"
    assert local_api.open_transactions == 0
    with pytest.raises(client.exceptions.TransactionNotFoundException):
        client.commit_transaction(**ARNS, transactionId=committed)


def test_a_string_without_a_type_hint_is_not_a_date(local_api: LocalDataApi) -> None:
    client = local_api.client()
    sql = "SELECT DATE '2026-01-01' = :d AS same"
    plain: list[SqlParameterTypeDef] = [{"name": "d", "value": {"stringValue": "2026-01-01"}}]
    hinted: list[SqlParameterTypeDef] = [
        {"name": "d", "value": {"stringValue": "2026-01-01"}, "typeHint": "DATE"}
    ]

    with pytest.raises(client.exceptions.DatabaseErrorException, match="SQLState: 42883"):
        client.execute_statement(**ARNS, sql=sql, parameters=plain)
    result = client.execute_statement(**ARNS, sql=sql, parameters=hinted)
    assert result["records"] == [[{"booleanValue": True}]]


def test_several_statements_in_one_call_are_refused(local_api: LocalDataApi) -> None:
    client = local_api.client()
    with pytest.raises(client.exceptions.DatabaseErrorException, match="SQLState: 42601"):
        client.execute_statement(**ARNS, sql="SELECT 1; SELECT 2")


def test_results_can_be_formatted_as_json(local_api: LocalDataApi) -> None:
    result = local_api.client().execute_statement(
        **ARNS,
        sql="SELECT 1 AS one, CAST(NULL AS text) AS nothing,"
        " CAST('2026-01-02 03:04:05.5+02' AS timestamptz) AS at",
        formatRecordsAs="JSON",
    )
    assert "records" not in result
    assert "columnMetadata" not in result
    assert json.loads(result["formattedRecords"]) == [
        {"one": 1, "nothing": None, "at": "2026-01-02 01:04:05.5"}
    ]


def test_column_metadata_names_postgresql_types(local_api: LocalDataApi) -> None:
    result = local_api.client().execute_statement(
        **ARNS,
        sql="SELECT 1 AS a, count(*) AS n, now() AS t, CAST('{}' AS jsonb) AS j, ARRAY[1] AS xs",
        includeResultMetadata=True,
    )
    assert [(c["label"], c["typeName"]) for c in result["columnMetadata"]] == [
        ("a", "int4"),
        ("n", "int8"),
        ("t", "timestamptz"),
        ("j", "jsonb"),
        ("xs", "_int4"),
    ]


# Translating the service's errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            'ERROR: duplicate key value violates unique constraint "parent_pkey"\n'
            "  Detail: Key (id)=(17841423505) already exists.; SQLState: 23505",
            (
                'duplicate key value violates unique constraint "parent_pkey"',
                "23505",
                "parent_pkey",
            ),
            id="unique",
        ),
        pytest.param(
            'ERROR: insert or update on table "child" violates foreign key constraint "child_fk"\n'
            '  Detail: Key (parent_id)=(x; SQLState: 23505) is not present in table "parent".;'
            " SQLState: 23503",
            (
                'insert or update on table "child" violates foreign key constraint "child_fk"',
                "23503",
                "child_fk",
            ),
            id="sqlstate-look-alike-in-detail",
        ),
        pytest.param(
            'ERROR: relation "missing" does not exist; Position: 15; SQLState: 42P01',
            ('relation "missing" does not exist', "42P01", None),
            id="position",
        ),
        pytest.param(
            'FATAL: password authentication failed for user "postgres"; SQLState: 28P01',
            ('password authentication failed for user "postgres"', "28P01", None),
            id="fatal",
        ),
        pytest.param(
            "Transaction is still running a query",
            ("Transaction is still running a query", None, None),
            id="no-sqlstate",
        ),
    ],
)
def test_parse_error_message(message: str, expected: tuple[str, str | None, str | None]) -> None:
    parsed = parse_error_message(message)
    assert (parsed.message, parsed.sqlstate, parsed.constraint) == expected


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "ExecuteStatement")


@pytest.mark.parametrize(
    ("code", "message", "sqlstate"),
    [
        (
            "DatabaseErrorException",
            "ERROR: deadlock detected\n  Detail: ...; SQLState: 40P01",
            "40P01",
        ),
        ("BadRequestException", "ERROR: division by zero; SQLState: 22012", "22012"),
        ("DatabaseErrorException", "Transaction is still running a query", None),
        ("DatabaseUnavailableException", "", None),
        ("DatabaseNotFoundException", "The DB cluster doesn't have a DB instance.", None),
        ("DatabaseResumingException", "The Aurora DB instance is resuming.", None),
        ("ServiceUnavailableError", "", None),
        ("ThrottlingException", "Rate exceeded", None),
        ("TransactionNotFoundException", "Transaction abc is not found", None),
        ("StatementTimeoutException", "Request timed out", "57014"),
    ],
)
def test_translate_client_error(code: str, message: str, sqlstate: str | None) -> None:
    error = translate_client_error(client_error(code, message), "ExecuteStatement")
    assert error.sqlstate == sqlstate
    assert isinstance(error, DatabaseUnavailable) == (code in UNAVAILABLE_CODES)
    assert "Detail" not in str(error)
    if sqlstate is None or code == "StatementTimeoutException":
        assert code in str(error)


# Encoding and decoding values -----------------------------------------------------------------


def test_booleans_are_not_sent_as_numbers() -> None:
    assert encode_parameter("b", True) == {"name": "b", "value": {"booleanValue": True}}
    assert encode_parameter("n", 1) == {"name": "n", "value": {"longValue": 1}}


def test_timestamps_are_sent_in_utc() -> None:
    at = datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert encode_parameter("at", at) == {
        "name": "at",
        "value": {"stringValue": "2026-02-28 22:30:00.000000"},
        "typeHint": "TIMESTAMP",
    }


@pytest.mark.parametrize(
    "value",
    [datetime(2026, 1, 1, 12), object(), {"a": 1}, [1, 2]],
    ids=["naive datetime", "object", "dict", "list"],  # the same in every process
)
def test_values_the_backend_cannot_send_are_refused_by_name(value: object) -> None:
    with pytest.raises(TypeError, match="'the_param'"):
        encode_parameter("the_param", value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02 03:04:05"),
        (datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC), "2026-01-02 03:04:05.12"),
        (
            datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=timezone(-timedelta(hours=5))),
            "2026-01-02 08:04:05.000001",
        ),
    ],
)
def test_timestamps_render_and_parse_like_the_service(value: datetime, text: str) -> None:
    assert format_timestamp(value) == text
    assert parse_timestamp(text) == value


def test_nanosecond_timestamps_are_truncated_to_microseconds() -> None:
    assert parse_timestamp("2026-01-02 03:04:05.123456789") == datetime(
        2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC
    )
