"""The payment schema's migrations over data written before them."""

from __future__ import annotations

from datetime import timedelta

from servers.core.db import Database, Json
from servers.core.ids import new_id
from servers.core.migrate import Migration, load_migrations, migrate
from servers.payment.service import TRUSTED, PaymentService

from .support import ALICE, BOB, START


async def migrated_before(db: Database, version: int) -> list[Migration]:
    """The payment schema anew, as the migrations before ``version`` left it; returns them all."""
    migrations = load_migrations("servers.payment")
    async with db.transaction() as tx:
        await tx.execute("DROP SCHEMA payment CASCADE")
        await tx.execute("DELETE FROM public.schema_migrations WHERE component = 'payment'")
    await migrate(db, "payment", [m for m in migrations if m.version < version])
    return migrations


async def test_the_latest_charge_column_is_filled_with_each_intents_newest_charge(
    db: Database, service: PaymentService
) -> None:
    migrations = await migrated_before(db, 3)

    method, paid, unpaid = new_id("pm"), new_id("pi"), new_id("pi")
    declined, succeeded = new_id("ch"), new_id("ch")
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO payment.payment_methods (payment_method_id, owner, brand, last4, "
            " exp_month, exp_year, fingerprint, behavior, created_at) "
            "VALUES (:id, NULL, 'visa', '4242', 12, 2040, :fingerprint, 'succeed', :now)",
            {"id": method, "fingerprint": "0" * 32, "now": START},
        )
        for intent, status in ((paid, "succeeded"), (unpaid, "requires_payment_method")):
            await tx.execute(
                "INSERT INTO payment.payment_intents (payment_intent_id, client_secret, "
                " amount_cents, currency, metadata, status, amount_received_cents, created_by, "
                " created_at, updated_at) "
                "VALUES (:id, :secret, 2500, 'USD', :metadata, :status, :received, 'test', "
                " :now, :now)",
                {
                    "id": intent,
                    "secret": f"{intent}_secret",
                    "metadata": Json({}),
                    "status": status,
                    "received": 2500 if status == "succeeded" else 0,
                    "now": START,
                },
            )
        # The decline is written after the success but happened before it.
        for charge, status, at in ((succeeded, "succeeded", 2), (declined, "failed", 1)):
            await tx.execute(
                "INSERT INTO payment.charges (charge_id, payment_intent_id, payment_method_id, "
                " amount_cents, currency, status, failure_code, failure_message, created_at) "
                "VALUES (:id, :intent, :method, 2500, 'USD', :status, :code, :message, :at)",
                {
                    "id": charge,
                    "intent": paid,
                    "method": method,
                    "status": status,
                    "code": "card_declined" if status == "failed" else None,
                    "message": "declined" if status == "failed" else None,
                    "at": START + timedelta(seconds=at),
                },
            )

    applied = await migrate(db, "payment", [m for m in migrations if m.version == 3])
    assert [m.version for m in applied] == [3]
    assert (await service.get_payment_intent(TRUSTED, paid)).latest_charge == succeeded
    assert (await service.get_payment_intent(TRUSTED, unpaid)).latest_charge is None


async def test_copies_of_a_saved_card_are_detached_but_the_newest(
    db: Database, service: PaymentService
) -> None:
    migrations = await migrated_before(db, 5)
    # Alice's card three times and once with another expiry, Bob's copy of it, a service's two.
    rows = [
        (ALICE.customer, 12, 0),
        (ALICE.customer, 12, 2),
        (ALICE.customer, 12, 1),
        (ALICE.customer, 11, 0),
        (BOB.customer, 12, 0),
        (None, 12, 0),
        (None, 12, 1),
    ]
    ids = [new_id("pm") for _ in rows]
    async with db.transaction() as tx:
        for method, (owner, month, at) in zip(ids, rows, strict=True):
            await tx.execute(
                "INSERT INTO payment.payment_methods (payment_method_id, owner, brand, last4, "
                " exp_month, exp_year, fingerprint, behavior, created_at) "
                "VALUES (:id, :owner, 'visa', '4242', :month, 2040, :fingerprint, 'succeed', :at)",
                {
                    "id": method,
                    "owner": owner,
                    "month": month,
                    "fingerprint": "0" * 32,
                    "at": START + timedelta(seconds=at),
                },
            )

    applied = await migrate(db, "payment", migrations)
    assert [m.version for m in applied] == [5]
    alices = await service.list_payment_methods(ALICE)
    assert {m.payment_method_id for m in alices.payment_methods} == {ids[1], ids[3]}
    bobs = await service.list_payment_methods(BOB)
    assert [m.payment_method_id for m in bobs.payment_methods] == [ids[4]]
    async with db.read() as tx:
        detached = await tx.fetch_all(
            "SELECT payment_method_id FROM payment.payment_methods WHERE detached_at IS NOT NULL"
        )
    assert {r["payment_method_id"] for r in detached} == {ids[0], ids[2]}
