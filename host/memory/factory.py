"""The memory store the settings name (``HOST_MEMORY_BACKEND``)."""

from __future__ import annotations

from servers.core.db import Database

from ..settings import HostSettings
from .agentcore import AgentCoreMemory
from .base import MemoryStore
from .postgres import PostgresMemory


def build_memory(settings: HostSettings, db: Database) -> MemoryStore:
    if settings.memory_backend == "agentcore":
        # Validated with the settings: the agentcore backend has a memory id.
        assert settings.agentcore_memory_id is not None
        return AgentCoreMemory(
            settings.agentcore_memory_id, region=settings.agentcore_memory_region
        )
    return PostgresMemory(db)
