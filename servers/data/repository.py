"""SQL of the data server. Every function runs inside a transaction it is given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from servers.core.db import Json, Row, Transaction

from .models import Customer, InventoryDay, Order, OrderChange, Ticket, TicketDetail, Tier

_TICKET_COLUMNS = (
    "ticket_number",
    "customer_id",
    "ticket_type",
    "status",
    "visit_date",
    "upgrade_tier",
    "original_price_cents",
    "currency",
    "metadata",
    "created_at",
    "updated_at",
)
_TICKET_COLS = ", ".join(_TICKET_COLUMNS)
_ORDER_COLUMNS = (
    "order_id",
    "ticket_number",
    "customer_id",
    "tier",
    "visit_date",
    "amount_cents",
    "currency",
    "status",
    "hold_expires_at",
    "payment_intent_id",
    "confirmation_code",
    "refund_id",
    "created_at",
    "updated_at",
    "confirmed_at",
    "closed_at",
)
_ORDER_COLS = ", ".join(_ORDER_COLUMNS)

_LIVE_HOLD = "status = 'awaiting_payment' AND hold_expires_at > :now"
"""A hold that still binds its seat at ``:now``: one past its expiry binds nothing, whether or
not a sweep has marked it expired yet."""
_LIVE_CLAIM = f"(status = 'confirmed' OR ({_LIVE_HOLD}))"
"""A claim on a seat at ``:now``: a confirmed upgrade or a live hold."""


def _order(row: Row) -> Order:
    return Order.model_validate({k: row[k] for k in Order.model_fields})


def _ticket(row: Row) -> Ticket:
    return Ticket.model_validate(row)


# Customers ------------------------------------------------------------------------------------


async def insert_customer(
    tx: Transaction, customer_id: str, email: str, full_name: str, now: datetime
) -> Customer | None:
    """The new customer, or None when the e-mail is taken."""
    row = await tx.fetch_one(
        "INSERT INTO data.customers (customer_id, email, full_name, created_at) "
        "VALUES (:id, :email, :name, :now) ON CONFLICT (email) DO NOTHING "
        "RETURNING customer_id, email, full_name, created_at",
        {"id": customer_id, "email": email, "name": full_name, "now": now},
    )
    return None if row is None else Customer.model_validate(row)


async def customer_by_email(tx: Transaction, email: str) -> Customer | None:
    row = await tx.fetch_one(
        "SELECT customer_id, email, full_name, created_at FROM data.customers WHERE email = :e",
        {"e": email},
    )
    return None if row is None else Customer.model_validate(row)


async def customer_by_id(tx: Transaction, customer_id: str) -> Customer | None:
    row = await tx.fetch_one(
        "SELECT customer_id, email, full_name, created_at FROM data.customers "
        "WHERE customer_id = :id",
        {"id": customer_id},
    )
    return None if row is None else Customer.model_validate(row)


# Tickets --------------------------------------------------------------------------------------


async def insert_ticket(tx: Transaction, values: dict[str, Any]) -> Ticket | None:
    """The new ticket, or None when the number is taken."""
    row = await tx.fetch_one(
        "INSERT INTO data.tickets (ticket_number, customer_id, ticket_type, status, visit_date, "
        " original_price_cents, currency, metadata, created_at, updated_at) "
        "VALUES (:ticket_number, :customer_id, :ticket_type, :status, :visit_date, "
        " :original_price_cents, :currency, :metadata, :now, :now) "
        f"ON CONFLICT (ticket_number) DO NOTHING RETURNING {_TICKET_COLS}",
        {**values, "metadata": Json(values.get("metadata", {}))},
    )
    return None if row is None else _ticket(row)


async def ticket(
    tx: Transaction, ticket_number: str, *, owner: str | None = None, lock: bool = False
) -> Ticket | None:
    """The ticket; with ``owner``, only if it is theirs (one query either way)."""
    row = await tx.fetch_one(
        f"SELECT {_TICKET_COLS} FROM data.tickets WHERE ticket_number = :t"
        " AND (CAST(:c AS text) IS NULL OR customer_id = :c)" + (" FOR UPDATE" if lock else ""),
        {"t": ticket_number, "c": owner},
    )
    return None if row is None else _ticket(row)


_TICKET_DETAIL = (
    f"SELECT {', '.join(f't.{c}' for c in _TICKET_COLUMNS)}, "
    f"{', '.join(f'o.{c} AS open_{c}' for c in _ORDER_COLUMNS)} "
    "FROM data.tickets t LEFT JOIN LATERAL ("
    f"  SELECT {_ORDER_COLS} FROM data.upgrade_orders"
    f"  WHERE ticket_number = t.ticket_number AND {_LIVE_CLAIM} LIMIT 1) o ON true "
    "WHERE t.ticket_number = :t AND (CAST(:c AS text) IS NULL OR t.customer_id = :c)"
)
"""A ticket and its open order, the order's columns prefixed ``open_`` (both tables have some of
the same names)."""


async def ticket_detail(
    tx: Transaction, ticket_number: str, owner: str | None, now: datetime
) -> TicketDetail | None:
    """The ticket with its open order (its confirmed upgrade or live hold at ``now``), in one
    statement; with ``owner``, only if it is theirs."""
    row = await tx.fetch_one(_TICKET_DETAIL, {"t": ticket_number, "c": owner, "now": now})
    if row is None:
        return None
    live = (
        None
        if row["open_order_id"] is None
        else _order({c: row[f"open_{c}"] for c in _ORDER_COLUMNS})
    )
    return TicketDetail(**{c: row[c] for c in _TICKET_COLUMNS}, open_order=live)


async def tickets_of(tx: Transaction, customer_id: str, status: str | None) -> list[Ticket]:
    rows = await tx.fetch_all(
        f"SELECT {_TICKET_COLS} FROM data.tickets WHERE customer_id = :c "
        "AND (CAST(:s AS text) IS NULL OR status = :s) ORDER BY visit_date, ticket_number",
        {"c": customer_id, "s": status},
    )
    return [_ticket(r) for r in rows]


async def apply_upgrade(
    tx: Transaction, ticket_number: str, tier: str | None, visit_date: date, now: datetime
) -> None:
    await tx.execute(
        "UPDATE data.tickets SET upgrade_tier = :tier, visit_date = :d, updated_at = :now "
        "WHERE ticket_number = :t",
        {"tier": tier, "d": visit_date, "now": now, "t": ticket_number},
    )


# Capacity -------------------------------------------------------------------------------------


async def lock_capacity(tx: Transaction, day: date, tier: Tier, default: int) -> int:
    """The capacity of a date and tier, locked until the transaction ends.

    Every write that changes the seats of a date and tier takes this lock first, so that
    counting seats and taking one are a single step under any concurrency. The row is made
    with the default capacity on a date's first write only: a date that has its row is locked
    in one statement.
    """
    lock = "SELECT capacity FROM data.daily_capacity WHERE visit_date = :d AND tier = :t FOR UPDATE"
    row = await tx.fetch_one(lock, {"d": day, "t": tier})
    if row is None:
        # Another first write may make the row meanwhile: whichever inserts first, both lock it.
        await tx.execute(
            "INSERT INTO data.daily_capacity (visit_date, tier, capacity) VALUES (:d, :t, :c) "
            "ON CONFLICT DO NOTHING",
            {"d": day, "t": tier, "c": default},
        )
        row = await tx.fetch_one(lock, {"d": day, "t": tier})
    assert row is not None
    capacity: int = row["capacity"]
    return capacity


async def set_capacity(
    tx: Transaction, day: date, tier: Tier, capacity: int, now: datetime
) -> None:
    await tx.execute(
        "UPDATE data.daily_capacity SET capacity = :c, updated_at = :now "
        "WHERE visit_date = :d AND tier = :t",
        {"c": capacity, "now": now, "d": day, "t": tier},
    )


async def seats_taken(
    tx: Transaction, day: date, tier: Tier, now: datetime, *, excluding: str | None = None
) -> tuple[int, int]:
    """(held, sold): unexpired holds (of orders and of changes) and confirmed upgrades of a
    date and tier."""
    row = await tx.fetch_one(
        f"SELECT count(*) FILTER (WHERE {_LIVE_HOLD}) AS held,"
        " count(*) FILTER (WHERE status = 'confirmed') AS sold "
        "FROM data.seat_claims WHERE visit_date = :d AND tier = :t "
        "AND claim_id IS DISTINCT FROM CAST(:excluding AS text)",
        {"d": day, "t": tier, "now": now, "excluding": excluding},
    )
    assert row is not None
    return int(row["held"]), int(row["sold"])


async def inventory(
    tx: Transaction,
    start: date,
    end: date,
    tier: Tier | None,
    now: datetime,
    defaults: dict[str, int],
) -> list[InventoryDay]:
    rows = await tx.fetch_all(
        "WITH days AS ("
        "  SELECT CAST(d AS date) AS day FROM generate_series("
        "    CAST(:start AS date), CAST(:end AS date), interval '1 day') AS d),"
        " tiers AS ("
        "  SELECT * FROM (VALUES ('standard', CAST(:c_standard AS integer), 1),"
        "   ('non_stop', CAST(:c_non_stop AS integer), 2),"
        "   ('double_fun', CAST(:c_double_fun AS integer), 3)) AS t(tier, default_cap, pos)"
        "  WHERE CAST(:tier AS text) IS NULL OR t.tier = :tier),"
        " taken AS ("
        "  SELECT visit_date, tier,"
        f"   count(*) FILTER (WHERE {_LIVE_HOLD}) AS held,"
        "   count(*) FILTER (WHERE status = 'confirmed') AS sold"
        "  FROM data.seat_claims WHERE visit_date BETWEEN :start AND :end"
        "  GROUP BY visit_date, tier) "
        "SELECT days.day AS date, tiers.tier, COALESCE(c.capacity, tiers.default_cap) AS capacity,"
        " COALESCE(taken.held, 0) AS held, COALESCE(taken.sold, 0) AS sold "
        "FROM days CROSS JOIN tiers "
        "LEFT JOIN data.daily_capacity c ON c.visit_date = days.day AND c.tier = tiers.tier "
        "LEFT JOIN taken ON taken.visit_date = days.day AND taken.tier = tiers.tier "
        "ORDER BY days.day, tiers.pos",
        {
            "start": start,
            "end": end,
            "tier": tier,
            "now": now,
            "c_standard": defaults["standard"],
            "c_non_stop": defaults["non_stop"],
            "c_double_fun": defaults["double_fun"],
        },
    )
    return [
        InventoryDay(
            date=r["date"],
            tier=r["tier"],
            capacity=r["capacity"],
            held=r["held"],
            sold=r["sold"],
            seats_left=max(0, r["capacity"] - r["held"] - r["sold"]),
        )
        for r in rows
    ]


# Orders ---------------------------------------------------------------------------------------


async def insert_order(tx: Transaction, values: dict[str, Any]) -> Order:
    row = await tx.fetch_one(
        "INSERT INTO data.upgrade_orders (order_id, ticket_number, customer_id, tier, visit_date,"
        " amount_cents, currency, status, hold_expires_at, previous_tier, previous_visit_date,"
        " created_at, updated_at) "
        "VALUES (:order_id, :ticket_number, :customer_id, :tier, :visit_date, :amount_cents,"
        " :currency, 'awaiting_payment', :hold_expires_at, :previous_tier, :previous_visit_date,"
        f" :now, :now) RETURNING {_ORDER_COLS}",
        values,
    )
    assert row is not None
    return _order(row)


async def order(
    tx: Transaction, order_id: str, *, owner: str | None = None, lock: bool = False
) -> Order | None:
    """The order; with ``owner``, only if it is theirs (one query either way)."""
    row = await tx.fetch_one(
        f"SELECT {_ORDER_COLS} FROM data.upgrade_orders WHERE order_id = :o"
        " AND (CAST(:c AS text) IS NULL OR customer_id = :c)" + (" FOR UPDATE" if lock else ""),
        {"o": order_id, "c": owner},
    )
    return None if row is None else _order(row)


async def previous_state(tx: Transaction, order_id: str) -> tuple[str | None, date]:
    row = await tx.fetch_one(
        "SELECT previous_tier, previous_visit_date FROM data.upgrade_orders WHERE order_id = :o",
        {"o": order_id},
    )
    assert row is not None
    return row["previous_tier"], row["previous_visit_date"]


async def orders(
    tx: Transaction,
    customer_id: str | None,
    ticket_number: str | None,
    status: str | None,
    limit: int,
) -> list[Order]:
    rows = await tx.fetch_all(
        f"SELECT {_ORDER_COLS} FROM data.upgrade_orders "
        "WHERE (CAST(:c AS text) IS NULL OR customer_id = :c)"
        " AND (CAST(:t AS text) IS NULL OR ticket_number = :t)"
        " AND (CAST(:s AS text) IS NULL OR status = :s) "
        "ORDER BY created_at DESC, order_id LIMIT :limit",
        {"c": customer_id, "t": ticket_number, "s": status, "limit": limit},
    )
    return [_order(r) for r in rows]


async def update_order(tx: Transaction, order_id: str, changes: dict[str, Any]) -> Order:
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    row = await tx.fetch_one(
        f"UPDATE data.upgrade_orders SET {assignments} WHERE order_id = :order_id "
        f"RETURNING {_ORDER_COLS}",
        {**changes, "order_id": order_id},
    )
    assert row is not None
    return _order(row)


async def attach_payment(
    tx: Transaction, order_id: str, payment_intent_id: str, now: datetime
) -> Order | None:
    """Records the payment of an order awaiting one, in one statement; None when the order is
    missing, closed or has a payment already (even this one: nothing is written then)."""
    row = await tx.fetch_one(
        "UPDATE data.upgrade_orders SET payment_intent_id = :p, updated_at = :now "
        "WHERE order_id = :o AND status = 'awaiting_payment' AND payment_intent_id IS NULL "
        f"RETURNING {_ORDER_COLS}",
        {"o": order_id, "p": payment_intent_id, "now": now},
    )
    return None if row is None else _order(row)


async def lock_ticket_of_order(tx: Transaction, order_id: str) -> None:
    """Locks the ticket of an order, found from the order in the same statement (nothing, when
    there is no such order)."""
    await tx.execute(
        "SELECT ticket_number FROM data.tickets WHERE ticket_number ="
        " (SELECT ticket_number FROM data.upgrade_orders WHERE order_id = :o) FOR UPDATE",
        {"o": order_id},
    )


async def confirm_order(
    tx: Transaction, order_id: str, payment_intent_id: str, confirmation_code: str, now: datetime
) -> Order:
    """Confirms an order and gives its ticket the upgrade's tier and date, in one statement."""
    row = await tx.fetch_one(
        "WITH confirmed AS ("
        "  UPDATE data.upgrade_orders SET status = 'confirmed', payment_intent_id = :p,"
        "   confirmation_code = :code, confirmed_at = :now, updated_at = :now"
        f"  WHERE order_id = :o RETURNING {_ORDER_COLS}),"
        " upgraded AS ("
        "  UPDATE data.tickets t SET upgrade_tier = c.tier, visit_date = c.visit_date,"
        "   updated_at = :now FROM confirmed c WHERE t.ticket_number = c.ticket_number) "
        "SELECT * FROM confirmed",
        {"o": order_id, "p": payment_intent_id, "code": confirmation_code, "now": now},
    )
    assert row is not None
    return _order(row)


@dataclass(frozen=True)
class HoldCheck:
    """What decides whether a ticket may hold a seat, as read before the capacity lock."""

    open_order: str | None
    """The ticket's confirmed upgrade or live hold, if it has one."""
    sold_out: bool
    """Every seat of the date and tier taken, as committed when read (see below)."""


async def check_hold(
    tx: Transaction, ticket_number: str, day: date, tier: Tier, default: int, now: datetime
) -> HoldCheck:
    """Marks the ticket's lapsed hold expired, and reads its open order and whether the date
    and tier are sold out: one statement, where each was a round trip of its own.

    Call it with the ticket locked. The open order is read by the live-claim rule rather than by
    status, so it does not matter that the statement's snapshot predates its own UPDATE (or a
    sweep that expired the hold first): a lapsed hold is not open either way.

    Only a "sold out" may be acted on: holds not yet committed are not seen, so a seat that
    looks free is taken (or refused) under :func:`lock_capacity`. A "sold out" is true of the
    moment it was read, what the locked count would have said then.
    """
    row = await tx.fetch_one(
        "WITH expired AS ("
        "  UPDATE data.upgrade_orders SET status = 'expired', closed_at = :now, updated_at = :now"
        "  WHERE ticket_number = :t AND status = 'awaiting_payment' AND hold_expires_at <= :now) "
        "SELECT (SELECT order_id FROM data.upgrade_orders WHERE ticket_number = :t"
        f"   AND {_LIVE_CLAIM} LIMIT 1) AS open_order,"
        " COALESCE((SELECT capacity FROM data.daily_capacity"
        "   WHERE visit_date = :d AND tier = :tier), :default) <= ("
        "  SELECT count(*) FROM data.seat_claims WHERE visit_date = :d AND tier = :tier"
        f"   AND {_LIVE_CLAIM}) AS sold_out",
        {"t": ticket_number, "d": day, "tier": tier, "default": default, "now": now},
    )
    assert row is not None
    return HoldCheck(open_order=row["open_order"], sold_out=bool(row["sold_out"]))


async def expire_due_holds(tx: Transaction, now: datetime, limit: int) -> list[Order]:
    rows = await tx.fetch_all(
        "UPDATE data.upgrade_orders SET status = 'expired', closed_at = :now, updated_at = :now "
        "WHERE order_id IN (SELECT order_id FROM data.upgrade_orders"
        "  WHERE status = 'awaiting_payment' AND hold_expires_at <= :now"
        "  ORDER BY hold_expires_at LIMIT :limit FOR UPDATE SKIP LOCKED) "
        f"RETURNING {_ORDER_COLS}",
        {"now": now, "limit": limit},
    )
    return sorted((_order(r) for r in rows), key=lambda o: o.hold_expires_at)


# Integrity ------------------------------------------------------------------------------------


async def oversold(tx: Transaction, now: datetime, defaults: dict[str, int]) -> list[Row]:
    return await tx.fetch_all(
        "SELECT o.visit_date, o.tier, count(*) AS taken,"
        " COALESCE(max(c.capacity), CASE o.tier WHEN 'standard' THEN CAST(:c_standard AS integer)"
        "  WHEN 'non_stop' THEN CAST(:c_non_stop AS integer)"
        "  ELSE CAST(:c_double_fun AS integer) END) AS capacity "
        "FROM data.seat_claims o LEFT JOIN data.daily_capacity c"
        " ON c.visit_date = o.visit_date AND c.tier = o.tier "
        # Unqualified: only seat_claims has these columns.
        f"WHERE {_LIVE_CLAIM}"
        " GROUP BY o.visit_date, o.tier "
        "HAVING count(*) > COALESCE(max(c.capacity), CASE o.tier"
        "  WHEN 'standard' THEN CAST(:c_standard AS integer)"
        "  WHEN 'non_stop' THEN CAST(:c_non_stop AS integer)"
        "  ELSE CAST(:c_double_fun AS integer) END) "
        "ORDER BY o.visit_date, o.tier",
        {"now": now, **{f"c_{k}": v for k, v in defaults.items()}},
    )


async def ticket_order_mismatches(tx: Transaction) -> list[Row]:
    return await tx.fetch_all(
        "SELECT o.order_id, o.ticket_number, o.tier, o.visit_date,"
        " t.upgrade_tier, t.visit_date AS ticket_visit_date "
        "FROM data.upgrade_orders o JOIN data.tickets t USING (ticket_number) "
        "WHERE o.status = 'confirmed' AND (t.upgrade_tier IS DISTINCT FROM o.tier"
        " OR t.visit_date <> o.visit_date) ORDER BY o.order_id"
    )


async def upgrades_without_order(tx: Transaction) -> list[Row]:
    return await tx.fetch_all(
        "SELECT t.ticket_number, t.upgrade_tier FROM data.tickets t "
        "WHERE t.upgrade_tier IS NOT NULL AND NOT EXISTS ("
        " SELECT 1 FROM data.upgrade_orders o"
        " WHERE o.ticket_number = t.ticket_number AND o.status = 'confirmed') "
        "ORDER BY t.ticket_number"
    )


async def stale_holds(tx: Transaction, cutoff: datetime) -> list[Row]:
    return await tx.fetch_all(
        "SELECT order_id, hold_expires_at FROM data.upgrade_orders "
        "WHERE status = 'awaiting_payment' AND hold_expires_at <= :cutoff ORDER BY order_id",
        {"cutoff": cutoff},
    )


# Changes of confirmed upgrades ----------------------------------------------------------------

_CHANGE_COLS = (
    "change_id, order_id, status, from_tier, from_visit_date, from_amount_cents, to_tier, "
    "to_visit_date, to_amount_cents, currency, hold_expires_at, charge_intent_id, refund_plan, "
    "release_reason, decline_code, created_at, updated_at, closed_at"
)


def _change(row: Row) -> OrderChange:
    return OrderChange.model_validate(row)


async def insert_change(tx: Transaction, values: dict[str, Any]) -> OrderChange:
    row = await tx.fetch_one(
        "INSERT INTO data.order_changes (change_id, order_id, status, from_tier,"
        " from_visit_date, from_amount_cents, to_tier, to_visit_date, to_amount_cents, currency,"
        " hold_expires_at, refund_plan, created_at, updated_at) "
        "VALUES (:change_id, :order_id, 'held', :from_tier, :from_visit_date,"
        " :from_amount_cents, :to_tier, :to_visit_date, :to_amount_cents, :currency,"
        f" :hold_expires_at, :refund_plan, :now, :now) RETURNING {_CHANGE_COLS}",
        {**values, "refund_plan": Json(values["refund_plan"])},
    )
    assert row is not None
    return _change(row)


async def change(tx: Transaction, change_id: str, *, lock: bool = False) -> OrderChange | None:
    row = await tx.fetch_one(
        f"SELECT {_CHANGE_COLS} FROM data.order_changes WHERE change_id = :c"
        + (" FOR UPDATE" if lock else ""),
        {"c": change_id},
    )
    return None if row is None else _change(row)


async def changes_of(tx: Transaction, order_id: str, status: str) -> list[OrderChange]:
    """The order's changes in this status, in the order they were made."""
    rows = await tx.fetch_all(
        f"SELECT {_CHANGE_COLS} FROM data.order_changes WHERE order_id = :o AND status = :s "
        "ORDER BY seq",
        {"o": order_id, "s": status},
    )
    return [_change(r) for r in rows]


async def update_change(tx: Transaction, change_id: str, changes: dict[str, Any]) -> OrderChange:
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    row = await tx.fetch_one(
        f"UPDATE data.order_changes SET {assignments} WHERE change_id = :change_id "
        f"RETURNING {_CHANGE_COLS}",
        {**changes, "change_id": change_id},
    )
    assert row is not None
    return _change(row)


async def release_held_changes(tx: Transaction, order_id: str, reason: str, now: datetime) -> None:
    await tx.execute(
        "UPDATE data.order_changes SET status = 'released', release_reason = :r,"
        " closed_at = :now, updated_at = :now WHERE order_id = :o AND status = 'held'",
        {"o": order_id, "r": reason, "now": now},
    )


async def move_order(
    tx: Transaction, order_id: str, tier: str, visit_date: date, amount_cents: int, now: datetime
) -> Order:
    return await update_order(
        tx,
        order_id,
        {"tier": tier, "visit_date": visit_date, "amount_cents": amount_cents, "updated_at": now},
    )
