from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from servers.core.db.postgres import PostgresDatabase
from servers.core.settings import canonical_issuer
from servers.devidp.app import build_app
from servers.devidp.clients import ClientRegistry
from servers.devidp.keys import KEY_FILE_NAME, SigningKey, load_or_create_signing_key
from servers.devidp.settings import IdpSettings
from servers.devidp.users import PostgresUserDirectory
from ticketing.db import seed_all

from .live import serve
from .support import DEV_PASSWORD, ISSUER, JANE, JOHN, FakeClock, FakeUsers


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One key for the whole session: generating RSA keys is the slow part."""
    return tmp_path_factory.mktemp("idp-key")


@pytest.fixture(scope="session")
def signing_key(key_dir: Path) -> SigningKey:
    return load_or_create_signing_key(key_dir)


@pytest.fixture(scope="session")
def registry(signing_key: SigningKey) -> ClientRegistry:
    return ClientRegistry.load(signing_key)


@pytest.fixture
def state_dir(tmp_path: Path, signing_key: SigningKey, key_dir: Path) -> Path:
    """A provider state directory of one test's own (registered clients are written there),
    holding the session's key."""
    state = tmp_path / "idp-state"
    state.mkdir()
    shutil.copy2(key_dir / KEY_FILE_NAME, state / KEY_FILE_NAME)
    return state


@pytest.fixture
def settings(state_dir: Path) -> IdpSettings:
    return IdpSettings(
        _env_file=None,
        issuer=ISSUER,
        key_dir=state_dir,
        dev_mode=True,
        dev_password=DEV_PASSWORD,
        token_ttl_seconds=900,
    )


@pytest.fixture
def users() -> FakeUsers:
    return FakeUsers(JOHN, JANE)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(settings: IdpSettings, users: FakeUsers, clock: FakeClock) -> Starlette:
    return build_app(settings, users=users, clock=clock)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        yield http


@pytest.fixture
def seeded_database(database_url: str) -> str:
    """A fresh database with the data server's seeded customers (john.doe@example.com, ...)."""

    async def fill() -> None:
        db = await PostgresDatabase(database_url, min_size=1, max_size=1).open()
        try:
            await seed_all(db, date.today())
        finally:
            await db.close()

    asyncio.run(fill())
    return database_url


@pytest.fixture
def live_idp(state_dir: Path, seeded_database: str) -> Iterator[str]:
    """The real provider over real HTTP, looking customers up in real PostgreSQL; its URL."""

    def build(base_url: str) -> Starlette:
        settings = IdpSettings(
            _env_file=None,
            issuer=canonical_issuer(base_url),
            key_dir=state_dir,
            dev_mode=True,
            database_url=seeded_database,
        )
        return build_app(settings, users=PostgresUserDirectory(seeded_database))

    with serve(build) as base_url:
        yield base_url
