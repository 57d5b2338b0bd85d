from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from servers.core.scopes import CUSTOMER_SCOPES, OPS_SCOPES
from servers.devidp import cli
from servers.devidp.keys import SigningKey
from servers.devidp.users import Customer, UserDirectoryError

from .support import ISSUER, JANE, JOHN, verify

runner = CliRunner()


@pytest.fixture(autouse=True)
def idp_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key_dir: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("DEV_MODE", "DATABASE_URL", "IDP_DATABASE_URL", "IDP_CLIENTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDP_KEY_DIR", str(key_dir))
    monkeypatch.setenv("IDP_ISSUER", ISSUER)


class FakeDatabase:
    def __init__(self, *customers: Customer) -> None:
        self.customers = {c.email: c for c in customers}
        self.urls: list[str] = []

    def lookup(self, database_url: str, email: str) -> Customer | None:
        self.urls.append(database_url)
        return self.customers.get(email.lower())

    def emails(self, database_url: str) -> list[str]:
        return list(self.customers)


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> FakeDatabase:
    fake = FakeDatabase(JOHN, JANE)
    monkeypatch.setattr(cli, "lookup_customer", fake.lookup)
    monkeypatch.setattr(cli, "known_emails", fake.emails)
    return fake


def _token(stdout: str) -> str:
    assert stdout.endswith("\n")
    assert stdout.count("\n") == 1
    token = stdout.strip()
    assert token.count(".") == 2
    return token


def test_client_token(signing_key: SigningKey) -> None:
    result = runner.invoke(cli.app, ["--client", "ops"])
    assert result.exit_code == 0, result.stderr
    claims = verify(_token(result.stdout), signing_key.jwks())
    assert claims["scope"].split() == list(OPS_SCOPES)
    assert claims["client_id"] == "ops"
    assert claims["sub"] == "ops"
    assert claims["token_use"] == "access"
    assert "username" not in claims


def test_client_token_narrowed(signing_key: SigningKey) -> None:
    result = runner.invoke(cli.app, ["--client", "ops", "--scope", "data/read notify/read"])
    assert result.exit_code == 0, result.stderr
    assert verify(_token(result.stdout), signing_key.jwks())["scope"] == "data/read notify/read"


def test_client_scope_outside_its_allowance_exits_2() -> None:
    result = runner.invoke(cli.app, ["--client", "host-agent", "--scope", "data/write"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "data/write" in result.stderr


@pytest.mark.parametrize("name", ["nobody", "web"])
def test_unknown_or_public_client_exits_2(name: str) -> None:
    result = runner.invoke(cli.app, ["--client", name])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert name in result.stderr


def test_user_token(
    signing_key: SigningKey, database: FakeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://localhost/shared")
    result = runner.invoke(cli.app, ["--user", "John.Doe@example.com"])
    assert result.exit_code == 0, result.stderr
    claims = verify(_token(result.stdout), signing_key.jwks())
    assert claims["sub"] == JOHN.customer_id
    assert claims["username"] == JOHN.email
    assert claims["client_id"] == "web"
    assert claims["scope"].split() == list(CUSTOMER_SCOPES)
    assert database.urls == ["postgresql://localhost/shared"]


def test_user_token_prefers_idp_database_url(
    database: FakeDatabase, monkeypatch: pytest.MonkeyPatch, signing_key: SigningKey
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://localhost/shared")
    monkeypatch.setenv("IDP_DATABASE_URL", "postgresql://localhost/idp")
    result = runner.invoke(cli.app, ["--user", JANE.email, "--scope", "tickets/read"])
    assert result.exit_code == 0, result.stderr
    assert verify(_token(result.stdout), signing_key.jwks())["scope"] == "tickets/read"
    assert database.urls == ["postgresql://localhost/idp"]


def test_user_scope_outside_customer_scopes_exits_2(
    database: FakeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://localhost/shared")
    result = runner.invoke(cli.app, ["--user", JOHN.email, "--scope", "data/read"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "data/read" in result.stderr
    assert database.urls == []


def test_unknown_user_exits_1_naming_seeded_customers(
    database: FakeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://localhost/shared")
    result = runner.invoke(cli.app, ["--user", "nobody@example.com"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert (
        "no customer with e-mail nobody@example.com "
        "(seeded customers: john.doe@example.com, jane.smith@example.com)"
    ) in result.stderr


def test_user_without_database_url_exits_2(database: FakeDatabase) -> None:
    result = runner.invoke(cli.app, ["--user", JOHN.email])
    assert result.exit_code == 2
    assert "DATABASE_URL" in result.stderr


def test_unreachable_database_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(database_url: str, email: str) -> Customer | None:
        raise UserDirectoryError("cannot look up customers: connection refused")

    monkeypatch.setattr(cli, "lookup_customer", unreachable)
    monkeypatch.setenv("DATABASE_URL", "postgresql://localhost/shared")
    result = runner.invoke(cli.app, ["--user", JOHN.email])
    assert result.exit_code == 1
    assert "connection refused" in result.stderr


@pytest.mark.parametrize("args", [[], ["--user", JOHN.email, "--client", "ops"]])
def test_exactly_one_of_user_or_client(args: list[str], database: FakeDatabase) -> None:
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "exactly one of --user EMAIL or --client NAME" in result.stderr


def test_help_describes_the_options() -> None:
    result = runner.invoke(cli.app, ["--help"])
    assert result.exit_code == 0
    for option in ("--user", "--client", "--scope"):
        assert option in result.stdout
    assert "COMMAND" not in result.stdout
