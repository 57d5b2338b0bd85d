"""The databases of every component: which migrations each owns, and how to seed and reset."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

from fastmcp import Client

from servers.core.auth import Principal
from servers.core.client import ServiceClient
from servers.core.db import Database
from servers.core.migrate import Migration, load_migrations, migrate
from servers.data.seed import SeededUpgrade
from servers.data.seed import seed as seed_data
from servers.payment.server import build_server as build_payment_server
from servers.payment.service import PaymentService
from servers.ticket.gateways import PaymentGateway


@dataclass(frozen=True)
class Component:
    name: str
    package: str
    schema: str


COMPONENTS: tuple[Component, ...] = (
    Component("data", "servers.data", "data"),
    Component("notify", "servers.notify", "notify"),
    Component("payment", "servers.payment", "payment"),
    Component("host", "host", "host"),
)


async def migrate_all(db: Database) -> list[tuple[str, Migration]]:
    """Apply every component's pending migrations; returns what was applied now."""
    applied = []
    for component in COMPONENTS:
        for migration in await migrate(db, component.name, load_migrations(component.package)):
            applied.append((component.name, migration))
    return applied


SEED_CARD = "pm_card_visa"


async def seed_all(db: Database, today: date) -> int:
    """Seed every component; returns the number of data rows inserted.

    A seeded upgrade is paid as the ticket server pays one: its gateway calling the payment
    server's tools (in memory, on the same database) with the ticket server's identity and
    the idempotency keys the journey derives from the order, so a second run pays nothing.
    """
    # Seeded cards need no stable fingerprint: nothing compares them with a customer's.
    payments = PaymentService(db, fingerprint_key=secrets.token_bytes(32))
    caller = Principal("ticket-server")
    async with ServiceClient(Client(build_payment_server(payments)), caller=caller) as client:
        gateway = PaymentGateway(client)

        async def pay(upgrade: SeededUpgrade) -> str:
            intent = await gateway.create_intent(
                amount_cents=upgrade.amount_cents,
                currency=upgrade.currency,
                description=f"Upgrade of {upgrade.ticket_number} (seed data)",
                customer_ref=upgrade.customer_id,
                metadata={"order_id": upgrade.order_id, "ticket_number": upgrade.ticket_number},
                idempotency_key=f"intent:{upgrade.order_id}",
            )
            paid = await gateway.confirm(intent.id, SEED_CARD, f"pay:{upgrade.order_id}:seed")
            if paid.status != "succeeded":
                raise RuntimeError(f"the seeded upgrade {upgrade.order_id} was not paid")
            return paid.id

        return await seed_data(db, today, pay=pay)


async def reset_all(db: Database) -> None:
    """Drop every component's schema and its migration records (development only)."""
    async with db.transaction() as tx:
        for component in COMPONENTS:
            await tx.execute(f"DROP SCHEMA IF EXISTS {component.schema} CASCADE")
        await tx.execute("DROP TABLE IF EXISTS public.schema_migrations")
