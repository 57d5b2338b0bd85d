"""Bad input, generated: every tool fuzzed from its own input schema, and Property 15 — invalid
data is rejected with a clear error and nothing is written, by the tools and by the tables.

Hypothesis only *generates* here: a synchronous ``@given`` function collects argument sets
(deterministically, ``derandomize=True``), then the async test awaits a call for each of them.
"""

from __future__ import annotations

import json
import logging
import re
import string
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import mcp_types
import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from servers.core.auth import Principal, acting_as
from servers.core.db import CHECK_VIOLATION, Database, DatabaseError, fetch_value
from servers.core.db.postgres import PostgresDatabase
from servers.core.ids import id_pattern
from servers.data.changes import OrderChanges
from servers.data.seed import CUSTOMERS, seed_id
from servers.data.server import build_server
from servers.data.service import DataService
from tests.hypothesis_examples import EXAMPLES, JSON_VALUES, examples
from ticketing.db import seed_all

MCPClient = Client[FastMCPTransport]

TABLES = (
    "customers",
    "tickets",
    "upgrade_orders",
    "order_changes",
    "daily_capacity",
    "idempotency_keys",
    "support_cases",
)
# Formats hypothesis-jsonschema generates natively; a new one must be taught to the fuzzer
# (``from_schema(..., custom_formats=...)``) or it would silently generate plain text.
NATIVE_FORMATS = {"date", "email"}
CODE = re.compile(r"^[A-Z][A-Z_]+: ")


FINGERPRINT_SQL = "SELECT " + ", ".join(
    f"(SELECT count(*) FROM data.{t}) AS {t}_rows, "
    f"(SELECT md5(COALESCE(string_agg(CAST(r AS text), '|' ORDER BY CAST(r AS text)), ''))"
    f" FROM data.{t} r) AS {t}_digest"
    for t in TABLES
)


async def fingerprint(tables: Database) -> dict[str, tuple[int, str]]:
    """Row count and a digest of the contents of every table of the data schema."""
    async with tables.transaction() as tx:
        row = await tx.fetch_one(FINGERPRINT_SQL)
    assert row is not None
    return {t: (row[f"{t}_rows"], row[f"{t}_digest"]) for t in TABLES}


def text_of(result: Any) -> str:
    return "".join(
        block.text for block in result.content if isinstance(block, mcp_types.TextContent)
    )


def short(value: Any) -> str:
    shown = json.dumps(value, default=str)
    return shown if len(shown) <= 300 else shown[:300] + "..."


@pytest.fixture(autouse=True)
def quiet_framework(caplog: pytest.LogCaptureFixture) -> None:
    """FastMCP logs every refused call with a rich traceback: slow, and no use here."""
    caplog.set_level(logging.CRITICAL, logger="fastmcp")


@pytest.fixture
async def tables(database_url: str) -> AsyncIterator[Database]:
    """PostgreSQL itself, where the fingerprints are taken: what a call wrote is read beside the
    backend under test, not through it (through the Data API fake, reading them was a third of
    the fuzzing's time)."""
    database = await PostgresDatabase(database_url, max_size=1).open()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def client(db: Database) -> AsyncIterator[MCPClient]:
    with acting_as(Principal("ticket-server")):  # as the ticket server calls it
        async with Client(build_server(DataService(db))) as c:
            yield c


# (a) every tool, fuzzed from its schema --------------------------------------------------------


async def known_values(db: Database) -> dict[str, list[Any]]:
    """Values of real records, mixed into generated arguments so calls reach the rules."""
    today = datetime.now(UTC).date()
    await seed_all(db, today)
    service = DataService(db)
    hold = await service.reserve_upgrade(
        ticket_number="TKT-JD0001",
        tier="standard",
        visit_date=today + timedelta(days=12),
        prices={"general": 2500},
        currency="USD",
        hold_minutes=15,
        idempotency_key="fuzz-setup-0001",
        caller="fuzz",
    )
    await service.attach_payment(hold.order_id, "pi_fuzz00000001")
    change = await OrderChanges(service).hold(
        order_id=seed_id("ord", "TKT-JS0003"),
        tier="standard",
        visit_date=today + timedelta(days=13),
        amount_cents=2500,
        hold_minutes=15,
        idempotency_key="fuzz-setup-0002",
        caller="fuzz",
    )
    emails = list(CUSTOMERS)
    return {
        "change_id": [change.change_id],
        "customer_id": [seed_id("cus", e) for e in emails],
        "email": emails + [e.upper() for e in emails],
        "ticket_number": [t.number for _, tickets in CUSTOMERS.values() for t in tickets],
        "order_id": [hold.order_id, seed_id("ord", "TKT-JS0003")],
        "payment_intent_id": ["pi_fuzz00000001", "pi_seedTKTJS0003", "pi_fuzz00000002"],
        "refund_id": ["re_fuzz00000001"],
        "idempotency_key": ["fuzz-key-0001", "fuzz-key-0002"],
        "currency": ["USD"],
        "amount_cents": [2500, 5000],
        "capacity": [0, 1, 2],
        **{
            name: [(today + timedelta(days=d)).isoformat() for d in (0, 1, 12, 13, 30)]
            for name in ("visit_date", "date", "start_date", "end_date")
        },
    }


def arguments_of(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Argument objects valid for a tool's (flat) input schema.

    Each argument comes from ``from_schema``; the object around them is built here, because
    hypothesis-jsonschema 0.23.1's own object strategy fails on Hypothesis 6.170 ("'many' object
    has no attribute 'more'")."""
    assert schema.get("type") == "object"
    assert schema.get("additionalProperties") is False
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    assert required <= set(properties)
    assert all("properties" not in spec for spec in properties.values()), "nested objects"
    return st.fixed_dictionaries(
        {name: value_of(spec) for name, spec in properties.items() if name in required},
        optional={
            name: value_of(spec) for name, spec in properties.items() if name not in required
        },
    )


def value_of(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for one argument's schema: ``from_schema``'s, but a map from the names
    of an enum (``reserve_upgrade``'s prices) is built here, for the reason above."""
    if spec.get("type") != "object":
        return from_schema(spec)
    names = spec["propertyNames"]["enum"]
    return st.dictionaries(
        st.sampled_from(names),
        from_schema(spec["additionalProperties"]),
        min_size=spec.get("minProperties", 0),
        max_size=len(names),
    )


@dataclass(frozen=True)
class Known:
    """The ``index``-th value of ``known_values()[name]``, put in by :func:`with_known`."""

    name: str
    index: int


@st.composite
def valid_arguments(
    draw: st.DrawFn, schema: dict[str, Any], known_counts: Mapping[str, int]
) -> dict[str, Any]:
    args: dict[str, Any] = draw(arguments_of(schema))
    for name in sorted(args):
        if name in known_counts and draw(st.booleans()):
            args[name] = Known(name, draw(st.integers(0, known_counts[name] - 1)))
    return args


@cache
def valid_examples(schema: str, known_counts: tuple[tuple[str, int], ...]) -> list[dict[str, Any]]:
    """:func:`valid_arguments` for a tool's schema (as JSON), generated once for both backends:
    generating is most of the fuzzing's time, and only the real records' ids differ between
    the two runs, so those are put in afterwards (:func:`with_known`)."""
    return examples(valid_arguments(json.loads(schema), dict(known_counts)))


@cache
def invalid_examples(schema: str) -> list[dict[str, Any]]:
    """:func:`invalid_arguments` for a tool's schema (as JSON), generated once for both
    backends."""
    return examples(invalid_arguments(json.loads(schema)))


def with_known(args: dict[str, Any], known: dict[str, list[Any]]) -> dict[str, Any]:
    return {
        name: known[value.name][value.index] if isinstance(value, Known) else value
        for name, value in args.items()
    }


@st.composite
def invalid_arguments(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    """Arbitrary JSON objects, or a valid-shaped call with one argument spoiled or dropped."""
    if draw(st.booleans()):
        return draw(st.dictionaries(st.text(max_size=16), JSON_VALUES, max_size=4))
    args = draw(arguments_of(schema))
    names = sorted(set(args) | set(schema.get("properties", {})))
    if not names:
        return draw(st.dictionaries(st.text(min_size=1, max_size=16), JSON_VALUES, min_size=1))
    name = draw(st.sampled_from(names))
    if draw(st.booleans()):
        args[name] = draw(JSON_VALUES)
    else:
        args.pop(name, None)
    return args


def formats_of(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["format"]} if isinstance(schema.get("format"), str) else set()
        return found.union(*(formats_of(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(formats_of(v) for v in schema))
    return set()


class Prober:
    """Calls tools and judges each outcome, fingerprinting the tables around every call."""

    def __init__(self, client: MCPClient, tables: Database):
        self.client = client
        self.tables = tables
        self.state: dict[str, tuple[int, str]] | None = None

    async def call(self, tool: mcp_types.Tool, args: dict[str, Any]) -> tuple[bool, str | None]:
        """(succeeded, problem): the call's outcome and what was wrong with it, if anything."""
        # Nothing but the calls writes, so the state after one call is the state before the next.
        before = self.state if self.state is not None else await fingerprint(self.tables)
        result = await self.client.call_tool(tool.name, args, raise_on_error=False)
        after = self.state = await fingerprint(self.tables)
        text = text_of(result)
        where = f"{tool.name}({short(args)}) -> {short(text)}"
        if "Traceback" in text or 'File "' in text:
            return result.is_error, f"traceback leaked: {where}"
        if result.is_error:
            if not CODE.match(text):
                return True, f"error without a code: {where}"
            if text.startswith(("INTERNAL", "UNAVAILABLE")):
                return True, f"unexpected failure: {where}"
            if after != before:
                changed = [t for t in TABLES if after[t] != before[t]]
                return True, f"a rejected call wrote to {changed}: {where}"
            return False, None
        if not isinstance(result.structured_content, dict):
            return True, f"success without structured content: {where}"
        # What the tool claims (test_mcp.py holds the claims to its own list of read tools).
        read_only = tool.annotations is not None and tool.annotations.read_only_hint is True
        if read_only and after != before:
            return True, f"a read-only tool wrote: {where}"
        return True, None


async def test_valid_shaped_calls_never_fail_unexpectedly(
    client: MCPClient, db: Database, tables: Database
) -> None:
    known = await known_values(db)
    tools = await client.list_tools()
    assert len(tools) == 27
    prober = Prober(client, tables)
    problems: list[str] = []
    outcomes: dict[str, set[bool]] = {}
    for tool in tools:
        assert formats_of(tool.input_schema) <= NATIVE_FORMATS, tool.name
        schema = json.dumps(tool.input_schema, sort_keys=True)
        counts = tuple(sorted((name, len(values)) for name, values in known.items()))
        for generated in valid_examples(schema, counts):
            args = with_known(generated, known)
            succeeded, problem = await prober.call(tool, args)
            outcomes.setdefault(tool.name, set()).add(succeeded)
            if problem:
                problems.append(problem)
    assert not problems, "\n".join(problems)
    # The fuzzer reached the rules: most tools both succeeded and were refused at least once.
    assert sum(1 for seen in outcomes.values() if seen == {True, False}) >= 10, outcomes
    report = await DataService(db).check_integrity()
    assert report.ok, report.violations


async def test_invalid_calls_are_refused_and_write_nothing(
    client: MCPClient, db: Database, tables: Database
) -> None:
    await known_values(db)
    tools = await client.list_tools()
    prober = Prober(client, tables)
    problems: list[str] = []
    refused = 0
    for tool in tools:
        properties = set(tool.input_schema.get("properties", {}))
        for args in invalid_examples(json.dumps(tool.input_schema, sort_keys=True)):
            succeeded, problem = await prober.call(tool, args)
            refused += not succeeded
            if problem:
                problems.append(problem)
            elif set(args) - properties and succeeded:
                problems.append(f"unknown arguments accepted: {tool.name}({short(args)})")
    assert not problems, "\n".join(problems)
    assert refused > 21 * EXAMPLES // 2


# (b) Property 15: invalid data is rejected with a clear error and nothing is written -----------

TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
BAD_EMAILS = st.one_of(
    TEXT.filter(lambda s: "@" not in s),
    st.builds(lambda s: f"{s}@", TEXT),
    st.builds(lambda s: f"@{s}", TEXT),
    st.builds(lambda a, b: f"{a} {b}@example.com", TEXT, TEXT),
    st.builds(lambda n: "a" * n + "@example.com", st.integers(243, 400)),
    st.sampled_from(["a@@example.com", "a@example..com", "a@-example.com", "a@", "plainaddress"]),
)
BAD_NAMES = st.one_of(
    st.text(" \t\n", max_size=5),
    st.text(st.characters(codec="utf-8"), min_size=201, max_size=260).filter(
        lambda s: len(s.strip()) > 200
    ),
    # A control character inside a name (the ends are stripped, so keep it off them).
    st.builds(
        lambda a, c, b: f"x{a}{c}{b}x",
        TEXT,
        st.sampled_from(["\x00", "\x07", "\n", "\x1b", "\x7f"]),
        TEXT,
    ),
)
BAD_PRICES = st.one_of(st.integers(max_value=-1), st.integers(min_value=100_000_001))
BAD_TYPES = st.one_of(
    TEXT.filter(lambda s: s not in {"general", "standard", "vip", "premium"}),
    st.sampled_from(["GENERAL", "Vip", "platinum", " vip"]),
)
BAD_CURRENCIES = st.one_of(
    TEXT.filter(lambda s: re.fullmatch(r"[A-Z]{3}", s) is None),
    st.sampled_from(["usd", "US", "USDD", "US1", "€€€"]),
)
BAD_DATES = st.one_of(
    # Nothing that starts like a number: Pydantic (lax) reads "0" as 1970-01-01.
    TEXT.filter(lambda s: not re.match(r"[-+]?\d", s.strip())),
    st.sampled_from(["2031-02-30", "2031-13-01", "31/12/2031", "tomorrow"]),
)


async def count_of(db: Database, table: str) -> int:
    async with db.transaction() as tx:
        count: int = await fetch_value(tx, f"SELECT count(*) FROM data.{table}")
    return count


async def refused(
    client: MCPClient, tables: Database, tool: str, args: dict[str, Any], field: str
) -> None:
    before = await fingerprint(tables)
    result = await client.call_tool(tool, args, raise_on_error=False)
    text = text_of(result)
    assert result.is_error, f"{tool}({short(args)}) was accepted"
    assert text.startswith("INVALID_ARGUMENT: "), f"{tool}({short(args)}) -> {text}"
    assert field in text, f"{tool}({short(args)}) -> {text} does not name {field}"
    assert len(text) < 600, text
    assert await fingerprint(tables) == before, f"{tool}({short(args)}) wrote something"


async def test_invalid_customers_are_refused(
    client: MCPClient, db: Database, tables: Database
) -> None:
    cases: list[tuple[str, Any]] = [("email", e) for e in examples(BAD_EMAILS)]
    cases += [("full_name", n) for n in examples(BAD_NAMES)]
    for field, value in cases:
        args = {
            "email": "valid@example.com",
            "full_name": "Valid Name",
            "idempotency_key": "cust-0001",
        }
        await refused(client, tables, "create_customer", {**args, field: value}, field)
    assert await count_of(db, "customers") == 0
    # The same call with nothing spoiled goes through: the refusals were about the bad field.
    ok = await client.call_tool(
        "create_customer",
        {"email": "valid@example.com", "full_name": "Valid Name", "idempotency_key": "cust-0001"},
        raise_on_error=False,
    )
    assert not ok.is_error, text_of(ok)
    assert await count_of(db, "customers") == 1


async def test_invalid_tickets_are_refused(
    client: MCPClient, db: Database, tables: Database
) -> None:
    customer = await DataService(db).create_customer(
        email="owner@example.com", full_name="Owner", idempotency_key="owner-0001", caller="t"
    )
    valid = {
        "customer_id": customer.customer_id,
        "ticket_type": "general",
        "visit_date": "2031-05-01",
        "price_cents": 4900,
        "currency": "USD",
        "idempotency_key": "ticket-0001",
    }
    bad_ids = TEXT.filter(lambda s: re.fullmatch(id_pattern("cus"), s) is None)
    cases: list[tuple[str, Any]] = [("price_cents", v) for v in examples(BAD_PRICES)]
    cases += [("ticket_type", v) for v in examples(BAD_TYPES)]
    cases += [("currency", v) for v in examples(BAD_CURRENCIES)]
    cases += [("visit_date", v) for v in examples(BAD_DATES)]
    cases += [("customer_id", v) for v in examples(bad_ids, 10)]
    for field, value in cases:
        await refused(client, tables, "issue_ticket", {**valid, field: value}, field)
    assert await count_of(db, "tickets") == 0
    ok = await client.call_tool("issue_ticket", valid, raise_on_error=False)
    assert not ok.is_error, text_of(ok)
    assert await count_of(db, "tickets") == 1


async def test_invalid_orders_and_capacity_are_refused(
    client: MCPClient, db: Database, tables: Database
) -> None:
    await seed_all(db, datetime.now(UTC).date())
    valid_order = {
        "ticket_number": "TKT-JD0001",
        "tier": "standard",
        "visit_date": "2031-05-02",
        "prices": {"general": 2500},
        "currency": "USD",
        "idempotency_key": "order-0001",
    }
    cases: list[tuple[str, Any]] = [("prices", {"general": v}) for v in examples(BAD_PRICES, 15)]
    cases += [("prices", v) for v in ({}, {"platinum": 2500}, [2500], 2500, None)]
    cases += [("currency", v) for v in examples(BAD_CURRENCIES, 15)]
    cases += [("visit_date", v) for v in examples(BAD_DATES, 15)]
    cases += [("hold_minutes", v) for v in examples(st.integers(max_value=0) | st.integers(61), 10)]
    cases += [
        ("tier", v)
        for v in examples(
            TEXT.filter(lambda s: s not in {"standard", "non_stop", "double_fun"}), 10
        )
    ]
    for field, value in cases:
        await refused(client, tables, "reserve_upgrade", {**valid_order, field: value}, field)
    for value in examples(st.integers(max_value=-1) | st.integers(min_value=100_001), 15):
        await refused(
            client,
            db,
            "set_capacity",
            {"date": "2031-05-02", "tier": "standard", "capacity": value},
            "capacity",
        )
    assert await count_of(db, "upgrade_orders") == 1  # the seeded confirmed upgrade only
    assert await count_of(db, "daily_capacity") == 0


# (b) ... and the tables refuse bad rows themselves ----------------------------------------------


async def insert(db: Database, sql: str, params: dict[str, Any]) -> None:
    async with db.transaction() as tx:
        await tx.execute(sql, params)


async def refused_by_table(db: Database, table: str, sql: str, params: dict[str, Any]) -> None:
    before = await count_of(db, table)
    with pytest.raises(DatabaseError) as err:
        await insert(db, sql, params)
    assert err.value.sqlstate == CHECK_VIOLATION, (err.value, params)
    assert await count_of(db, table) == before


CUSTOMER_SQL = (
    "INSERT INTO data.customers (customer_id, email, full_name)"
    " VALUES (:customer_id, :email, :full_name)"
)
TICKET_SQL = (
    "INSERT INTO data.tickets (ticket_number, customer_id, ticket_type, status,"
    " original_price_cents, currency, visit_date) VALUES (:ticket_number, :customer_id,"
    " :ticket_type, :status, :original_price_cents, :currency, :visit_date)"
)
ORDER_SQL = (
    "INSERT INTO data.upgrade_orders (order_id, ticket_number, customer_id, tier, visit_date,"
    " amount_cents, currency, status, hold_expires_at, payment_intent_id, confirmation_code,"
    " refund_id, previous_visit_date, created_at, updated_at, confirmed_at, closed_at) VALUES"
    " (:order_id, :ticket_number, :customer_id, :tier, :visit_date, :amount_cents, :currency,"
    " :status, :hold_expires_at, :payment_intent_id, :confirmation_code, :refund_id,"
    " :previous_visit_date, :created_at, :updated_at, :confirmed_at, :closed_at)"
)


def new_customer_id() -> str:
    return seed_id("cus", uuid.uuid4().hex)


async def test_tables_refuse_bad_rows(db: Database) -> None:
    now = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)
    customer = {"customer_id": new_customer_id(), "email": "row@example.com", "full_name": "Row"}
    await insert(db, CUSTOMER_SQL, customer)  # the base row itself is fine
    serial = iter(range(100_000, 999_999))

    def ticket_row(**changes: Any) -> dict[str, Any]:
        return {
            "ticket_number": f"TKT-{next(serial)}",
            "customer_id": customer["customer_id"],
            "ticket_type": "general",
            "status": "active",
            "original_price_cents": 4900,
            "currency": "USD",
            "visit_date": date(2031, 2, 1),
            **changes,
        }

    base_ticket = ticket_row()
    await insert(db, TICKET_SQL, base_ticket)

    def order_row(**changes: Any) -> dict[str, Any]:
        return {
            "order_id": seed_id("ord", uuid.uuid4().hex),
            "ticket_number": base_ticket["ticket_number"],
            "customer_id": customer["customer_id"],
            "tier": "standard",
            "visit_date": date(2031, 2, 2),
            "amount_cents": 2500,
            "currency": "USD",
            "status": "cancelled",
            "hold_expires_at": now + timedelta(minutes=15),
            "payment_intent_id": None,
            "confirmation_code": None,
            "refund_id": None,
            "previous_visit_date": date(2031, 2, 1),
            "created_at": now,
            "updated_at": now,
            "confirmed_at": None,
            "closed_at": now,
            **changes,
        }

    await insert(db, ORDER_SQL, order_row())

    ascii_emails = st.text(string.ascii_letters + string.digits + " @.\t", max_size=30)
    bad_rows = ascii_emails.filter(
        lambda e: e != e.lower() or not re.fullmatch(r"[^@\s]+@[^@\s]+", e)
    )
    for email in [*examples(bad_rows, 15), "a" * 250 + "@b.co", "Upper@Example.com"]:
        await refused_by_table(
            db,
            "customers",
            CUSTOMER_SQL,
            {**customer, "customer_id": new_customer_id(), "email": email},
        )
    for name in ["", "x" * 201]:
        await refused_by_table(
            db,
            "customers",
            CUSTOMER_SQL,
            {
                "customer_id": new_customer_id(),
                "email": f"{uuid.uuid4().hex}@example.com",
                "full_name": name,
            },
        )
    ticket_cases: list[tuple[str, Any]] = [
        ("original_price_cents", v) for v in examples(st.integers(-(2**31), -1), 10)
    ]
    ticket_cases += [("currency", v) for v in examples(BAD_CURRENCIES, 10)]
    ticket_cases += [("ticket_type", v) for v in examples(BAD_TYPES, 10)]
    ticket_cases += [("status", "lost"), ("ticket_number", "TKT-lower")]
    for column, value in ticket_cases:
        await refused_by_table(db, "tickets", TICKET_SQL, ticket_row(**{column: value}))
    order_cases: list[dict[str, Any]] = [
        {"amount_cents": v} for v in examples(st.integers(-(2**31), -1), 10)
    ]
    order_cases += [{"currency": v} for v in examples(BAD_CURRENCIES, 10)]
    order_cases += [
        {"tier": "platinum"},
        {"status": "paid"},
        {"hold_expires_at": now},  # a hold must end after it starts
        {"status": "confirmed", "payment_intent_id": "pi_row00000001"},  # no confirmation code
        {
            "status": "confirmed",
            "confirmation_code": "UPG-ROW00001",
            "confirmed_at": now,
            "closed_at": None,
        },  # confirmed without a payment
        {
            "status": "refunded",
            "payment_intent_id": "pi_row00000001",
            "confirmation_code": "UPG-ROW00002",
            "confirmed_at": now,
        },  # refunded without a refund
        {"status": "awaiting_payment"},  # open, yet closed
    ]
    for changes in order_cases:
        await refused_by_table(db, "upgrade_orders", ORDER_SQL, order_row(**changes))
    await refused_by_table(
        db,
        "daily_capacity",
        "INSERT INTO data.daily_capacity (visit_date, tier, capacity) VALUES (:d, 'standard', :c)",
        {"d": date(2031, 2, 2), "c": -1},
    )
    assert await count_of(db, "customers") == 1
    assert await count_of(db, "tickets") == 1
    assert await count_of(db, "upgrade_orders") == 1
