"""SQL of the payment server. Every function runs inside a transaction it is given."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from servers.core.db import Json, Row, Transaction, fetch_value

from .models import Event, PaymentIntent, Refund

_INTENT_COLS = (
    "i.payment_intent_id, i.status, i.amount_cents, i.currency, i.amount_received_cents, "
    "i.amount_refunded_cents, i.description, i.customer_ref, i.metadata, i.client_secret, "
    "i.payment_method_id, i.last_payment_error, i.next_action, i.created_at, i.updated_at, "
    "i.canceled_at, i.latest_charge"
)
_METHOD_COLS = (
    "payment_method_id, owner, brand, last4, exp_month, exp_year, fingerprint, behavior, "
    "created_at, detached_at"
)


def _insert_method(prefix: str) -> str:
    """The INSERT of one payment method, its values from the parameters ``prefix`` + column."""
    values = ", ".join(f":{prefix}{column}" for column in _METHOD_COLS.split(", "))
    return f"INSERT INTO payment.payment_methods ({_METHOD_COLS}) VALUES ({values})"


# A method on its own, and one stored by a charge's statement (its parameters prefixed there).
_INSERT_METHOD = _insert_method("")
_INSERT_CHARGED_METHOD = _insert_method("method_")
_REFUND_COLS = (
    "refund_id, payment_intent_id, charge_id, amount_cents, currency, reason, status, created_at"
)


def _intent(row: Row) -> PaymentIntent:
    return PaymentIntent.model_validate(
        {
            **row,
            "id": row["payment_intent_id"],
            "payment_method": row["payment_method_id"],
        }
    )


def _refund(row: Row) -> Refund:
    return Refund.model_validate({**row, "id": row["refund_id"]})


def _event(row: Row) -> Event:
    return Event.model_validate({**row, "id": row["event_id"]})


# Payment methods ------------------------------------------------------------------------------


async def insert_method(tx: Transaction, values: dict[str, Any]) -> Row:
    """The new method; for a card its owner has saved already (the same fingerprint and
    expiry), the saved one instead."""
    # The update changes nothing: it is what makes the conflicting row come back.
    row = await tx.fetch_one(
        f"{_INSERT_METHOD} ON CONFLICT (owner, fingerprint, exp_month, exp_year) "
        "WHERE detached_at IS NULL DO UPDATE SET owner = EXCLUDED.owner "
        f"RETURNING {_METHOD_COLS}",
        {"detached_at": None, **values},
    )
    assert row is not None
    return row


async def method(tx: Transaction, payment_method_id: str) -> Row | None:
    return await tx.fetch_one(
        f"SELECT {_METHOD_COLS} FROM payment.payment_methods WHERE payment_method_id = :id",
        {"id": payment_method_id},
    )


async def methods_of(tx: Transaction, owner: str) -> list[Row]:
    """The owner's saved (not detached) methods, newest first."""
    return await tx.fetch_all(
        f"SELECT {_METHOD_COLS} FROM payment.payment_methods "
        "WHERE owner = :owner AND detached_at IS NULL "
        "ORDER BY created_at DESC, payment_method_id",
        {"owner": owner},
    )


async def detach_method(tx: Transaction, payment_method_id: str, now: datetime) -> None:
    """Detaches a method once; detaching it again keeps the first time."""
    await tx.execute(
        "UPDATE payment.payment_methods SET detached_at = COALESCE(detached_at, :now) "
        "WHERE payment_method_id = :id",
        {"id": payment_method_id, "now": now},
    )


# Payment intents ------------------------------------------------------------------------------


async def insert_intent(tx: Transaction, values: dict[str, Any]) -> PaymentIntent:
    """A new intent, as it is stored (no charge yet), from the INSERT itself."""
    row = await tx.fetch_one(
        "INSERT INTO payment.payment_intents AS i (payment_intent_id, client_secret, "
        " amount_cents, currency, description, customer_ref, metadata, status, created_by,"
        " created_at, updated_at) "
        "VALUES (:payment_intent_id, :client_secret, :amount_cents, :currency, :description, "
        " :customer_ref, :metadata, 'requires_payment_method', :created_by, :now, :now) "
        f"RETURNING {_INTENT_COLS}",
        {**values, "metadata": Json(values["metadata"])},
    )
    assert row is not None
    return _intent(row)


async def intent(
    tx: Transaction, payment_intent_id: str, *, lock: bool = False
) -> PaymentIntent | None:
    row = await tx.fetch_one(
        f"SELECT {_INTENT_COLS} FROM payment.payment_intents i WHERE i.payment_intent_id = :id"
        + (" FOR UPDATE OF i" if lock else ""),
        {"id": payment_intent_id},
    )
    return None if row is None else _intent(row)


async def update_intent(
    tx: Transaction, payment_intent_id: str, values: dict[str, Any]
) -> PaymentIntent:
    """Sets the given columns (a fixed set of names, never caller input); returns the intent as
    it now is."""
    row = await tx.fetch_one(
        f"UPDATE payment.payment_intents i SET {_assignments(values)} "
        f"WHERE i.payment_intent_id = :id RETURNING {_INTENT_COLS}",
        {**_params(values), "id": payment_intent_id},
    )
    assert row is not None
    return _intent(row)


async def charge_intent(
    tx: Transaction,
    payment_intent_id: str,
    charge: dict[str, Any],
    changes: dict[str, Any],
    *,
    new_method: dict[str, Any] | None = None,
) -> PaymentIntent:
    """Records a charge of the intent and updates the intent (``changes``, as for
    :func:`update_intent`) in one statement; the intent comes back with the charge as its
    latest. ``new_method``, the row of a payment method made for this charge (a test card's
    token), is stored by the same statement."""
    store = (
        f"WITH method AS ({_INSERT_CHARGED_METHOD} RETURNING payment_method_id), "
        if new_method is not None
        else "WITH "
    )
    row = await tx.fetch_one(
        store + "charge AS ("
        " INSERT INTO payment.charges (charge_id, payment_intent_id, payment_method_id, "
        "  amount_cents, currency, status, failure_code, decline_code, failure_message, "
        "  created_at) "
        " VALUES (:charge_id, :id, :charge_payment_method_id, :charge_amount_cents, "
        "  :charge_currency, :charge_status, :charge_failure_code, :charge_decline_code, "
        "  :charge_failure_message, :charge_created_at) "
        " RETURNING charge_id) "
        f"UPDATE payment.payment_intents i SET {_assignments(changes)}, "
        " latest_charge = charge.charge_id "
        "FROM charge WHERE i.payment_intent_id = :id "
        f"RETURNING {_INTENT_COLS}",
        {
            **_params(changes),
            **{k if k == "charge_id" else f"charge_{k}": v for k, v in charge.items()},
            **{f"method_{k}": v for k, v in (new_method or {}).items()},
            "id": payment_intent_id,
        },
    )
    assert row is not None
    return _intent(row)


def _assignments(values: dict[str, Any]) -> str:
    return ", ".join(f"{column} = :{column}" for column in values)


def _params(values: dict[str, Any]) -> dict[str, Any]:
    return {k: Json(v) if isinstance(v, dict) else v for k, v in values.items()}


# Checkout sessions ----------------------------------------------------------------------------


async def insert_session(tx: Transaction, values: dict[str, Any]) -> None:
    await tx.execute(
        "INSERT INTO payment.checkout_sessions (checkout_session_id, payment_intent_id, "
        " success_url, cancel_url, expires_at, created_by, created_at) "
        "VALUES (:checkout_session_id, :payment_intent_id, :success_url, :cancel_url, "
        " :expires_at, :created_by, :created_at)",
        values,
    )


async def session(tx: Transaction, checkout_session_id: str) -> Row | None:
    return await tx.fetch_one(
        "SELECT checkout_session_id, payment_intent_id, success_url, cancel_url, expires_at, "
        " created_at FROM payment.checkout_sessions WHERE checkout_session_id = :id",
        {"id": checkout_session_id},
    )


async def open_session_of(tx: Transaction, payment_intent_id: str, now: datetime) -> Row | None:
    """The intent's session that expires last, if it has not expired yet."""
    return await tx.fetch_one(
        "SELECT checkout_session_id, payment_intent_id, success_url, cancel_url, expires_at, "
        " created_at FROM payment.checkout_sessions "
        "WHERE payment_intent_id = :id AND expires_at > :now "
        "ORDER BY expires_at DESC LIMIT 1",
        {"id": payment_intent_id, "now": now},
    )


# Charges and refunds --------------------------------------------------------------------------


async def transient_failures(tx: Transaction, payment_intent_id: str) -> int:
    count = await fetch_value(
        tx,
        "SELECT count(*) AS n FROM payment.charges c "
        "JOIN payment.payment_methods m USING (payment_method_id) "
        "WHERE c.payment_intent_id = :id AND c.status = 'failed' "
        " AND m.behavior = 'transient_processing_error'",
        {"id": payment_intent_id},
    )
    return int(count)


async def successful_charge(tx: Transaction, payment_intent_id: str) -> Row | None:
    return await tx.fetch_one(
        "SELECT charge_id, amount_cents, currency FROM payment.charges "
        "WHERE payment_intent_id = :id AND status = 'succeeded'",
        {"id": payment_intent_id},
    )


async def refund_total(tx: Transaction, charge_id: str) -> int:
    total = await fetch_value(
        tx,
        "SELECT COALESCE(max(total_cents), 0) AS total FROM payment.refunds WHERE charge_id = :id",
        {"id": charge_id},
    )
    return int(total)


async def insert_refund(tx: Transaction, values: dict[str, Any]) -> Refund:
    row = await tx.fetch_one(
        "INSERT INTO payment.refunds (refund_id, charge_id, payment_intent_id, amount_cents, "
        " currency, charge_amount_cents, previous_total_cents, reason, status, created_at) "
        "VALUES (:refund_id, :charge_id, :payment_intent_id, :amount_cents, :currency, "
        " :charge_amount_cents, :previous_total_cents, :reason, 'succeeded', :created_at) "
        f"RETURNING {_REFUND_COLS}",
        values,
    )
    assert row is not None
    return _refund(row)


# Events and their outbox ----------------------------------------------------------------------


async def insert_event(tx: Transaction, values: dict[str, Any]) -> Event:
    """The event, with one pending delivery per enabled webhook endpoint (the outbox)."""
    # One statement, one round trip: the deliveries' INSERT reads the event's id from the first.
    row = await tx.fetch_one(
        "WITH event AS ("
        " INSERT INTO payment.events (event_id, type, payment_intent_id, customer_ref, data, "
        "  created_at) VALUES (:event_id, :type, :payment_intent_id, :customer_ref, :data, :now) "
        " RETURNING event_id, type, payment_intent_id, data, created_at), "
        "deliveries AS ("
        " INSERT INTO payment.webhook_deliveries (event_id, endpoint_id, status, next_attempt_at) "
        " SELECT event.event_id, endpoint_id, 'pending', :now "
        " FROM event, payment.webhook_endpoints WHERE enabled) "
        "SELECT event_id, type, payment_intent_id, data, created_at FROM event",
        {**values, "data": Json(values["data"])},
    )
    assert row is not None
    return _event(row)


async def event(tx: Transaction, event_id: str, customer: str | None) -> Event | None:
    row = await tx.fetch_one(
        "SELECT event_id, type, payment_intent_id, data, created_at FROM payment.events "
        "WHERE event_id = :id AND (CAST(:customer AS text) IS NULL OR customer_ref = :customer)",
        {"id": event_id, "customer": customer},
    )
    return None if row is None else _event(row)


async def events_after(
    tx: Transaction, since: str | None, customer: str | None, limit: int
) -> list[Event]:
    rows = await tx.fetch_all(
        "SELECT event_id, type, payment_intent_id, data, created_at FROM payment.events "
        "WHERE (CAST(:customer AS text) IS NULL OR customer_ref = :customer) "
        " AND seq > COALESCE((SELECT seq FROM payment.events WHERE event_id = :since), 0) "
        "ORDER BY seq LIMIT :limit",
        {"customer": customer, "since": since, "limit": limit},
    )
    return [_event(r) for r in rows]


async def ensure_endpoint(
    tx: Transaction, endpoint_id: str, url: str, secret: str, now: datetime
) -> None:
    """The endpoint, enabled with this secret; deliveries paused while it was disabled resume."""
    # Two statements: the second must see the deliveries paused by a worker that held the
    # endpoint's share lock while the first waited for it (webhooks.WebhookWorker._pause).
    await tx.execute(
        "INSERT INTO payment.webhook_endpoints (endpoint_id, url, secret, enabled, created_at, "
        " updated_at) VALUES (:id, :url, :secret, true, :now, :now) "
        "ON CONFLICT (url) DO UPDATE SET secret = EXCLUDED.secret, enabled = true, "
        " updated_at = EXCLUDED.updated_at",
        {"id": endpoint_id, "url": url, "secret": secret, "now": now},
    )
    await tx.execute(
        "UPDATE payment.webhook_deliveries SET status = 'pending' "
        "WHERE status = 'paused' AND endpoint_id = ("
        " SELECT endpoint_id FROM payment.webhook_endpoints WHERE url = :url)",
        {"url": url},
    )


async def disable_endpoint(tx: Transaction, url: str, now: datetime) -> None:
    await tx.execute(
        "UPDATE payment.webhook_endpoints SET enabled = false, updated_at = :now WHERE url = :url",
        {"url": url, "now": now},
    )


async def enabled_endpoint_urls(tx: Transaction) -> list[str]:
    rows = await tx.fetch_all("SELECT url FROM payment.webhook_endpoints WHERE enabled")
    return [r["url"] for r in rows]
