"""One database interface, two backends: psycopg (any PostgreSQL) and the RDS Data API."""

from .base import (
    CHECK_VIOLATION,
    DEADLOCK_DETECTED,
    FOREIGN_KEY_VIOLATION,
    SERIALIZATION_FAILURE,
    UNIQUE_VIOLATION,
    Database,
    DatabaseError,
    DatabaseUnavailable,
    Json,
    Params,
    Row,
    Transaction,
    fetch_value,
)

__all__ = [
    "CHECK_VIOLATION",
    "DEADLOCK_DETECTED",
    "FOREIGN_KEY_VIOLATION",
    "SERIALIZATION_FAILURE",
    "UNIQUE_VIOLATION",
    "Database",
    "DatabaseError",
    "DatabaseUnavailable",
    "Json",
    "Params",
    "Row",
    "Transaction",
    "fetch_value",
]
