"""Opening the configured backend."""

from __future__ import annotations

from servers.core.settings import DatabaseSettings

from .base import Database, DatabaseError
from .postgres import PostgresDatabase


async def open_database(settings: DatabaseSettings) -> Database:
    if settings.db_backend == "dataapi":
        from .dataapi import connect_dataapi

        assert settings.dataapi_resource_arn
        assert settings.dataapi_secret_arn
        return connect_dataapi(
            settings.dataapi_resource_arn,
            settings.dataapi_secret_arn,
            settings.dataapi_database,
            settings.aws_region,
        )
    if not settings.database_url:
        raise DatabaseError("no database configured: set DATABASE_URL (with the server's prefix)")
    return await PostgresDatabase(
        settings.database_url,
        max_size=settings.db_pool_size,
        timeout=settings.db_acquire_timeout,
        connect_timeout=settings.db_connect_timeout,
        reconnect_timeout=settings.db_reconnect_timeout,
    ).open()


async def ping(db: Database) -> None:
    """Raises unless the database answers a trivial query."""
    async with db.transaction() as tx:
        await tx.fetch_one("SELECT 1 AS ok")
