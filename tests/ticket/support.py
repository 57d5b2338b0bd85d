"""Constants shared by the ticket server tests."""

from __future__ import annotations

from datetime import UTC, datetime

from servers.core.auth import Principal
from servers.data.seed import seed_id
from servers.ticket.service import Caller

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TODAY = NOW.date()

TICKET_SERVER = Principal("ticket-server")
"""How the ticket server calls the others: with its own client-credentials token."""
JOHN = Caller(customer_id=seed_id("cus", "john.doe@example.com"))
JANE = Caller(customer_id=seed_id("cus", "jane.smith@example.com"))
OPS = Caller(customer_id=None, operator=True)
