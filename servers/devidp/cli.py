"""``ticketing token``: print an access token minted with the dev identity provider's key.

Prints only the token and a newline, so ``curl -H "Authorization: Bearer $(ticketing token ...)"``
works. No HTTP: the token is signed directly with the key in ``IDP_KEY_DIR``, so the provider need
not be running, but servers verifying the token must trust the same issuer and key.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError

from servers.core.scopes import CUSTOMER_SCOPES
from servers.devidp.clients import CLIENT_CREDENTIALS, ClientRegistry
from servers.devidp.keys import load_or_create_signing_key
from servers.devidp.settings import IdpSettings
from servers.devidp.tokens import mint_access_token

if TYPE_CHECKING:
    from servers.devidp.users import Customer

# Customers sign in through the web app's client; their tokens say so.
USER_CLIENT_ID = "web"

app = typer.Typer(
    name="token",
    add_completion=False,
    subcommand_metavar="",
)


def lookup_customer(database_url: str, email: str) -> Customer | None:
    """The customer with this e-mail; tests replace this function."""
    # psycopg is imported only here and below: `--client` tokens, the common case, need no
    # database, and every `ticketing` command imports this module.
    import psycopg

    from servers.devidp.users import UserDirectoryError, find_customer

    try:
        return asyncio.run(find_customer(database_url, email))
    except psycopg.Error as exc:
        raise UserDirectoryError(f"cannot look up customers: {exc}") from exc


def known_emails(database_url: str) -> list[str]:
    """Some customers' e-mails, for the error message; tests replace this function."""
    import psycopg

    from servers.devidp.users import customer_emails

    try:
        return asyncio.run(customer_emails(database_url))
    except psycopg.Error:
        return []


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _split_scopes(values: list[str] | None) -> tuple[str, ...]:
    # `--scope "a b"` and `--scope a --scope b` mean the same.
    return tuple(dict.fromkeys(scope for value in values or [] for scope in value.split()))


@app.callback(invoke_without_command=True)
def token(
    user: Annotated[
        str | None,
        typer.Option("--user", metavar="EMAIL", help="Customer e-mail: print a user token."),
    ] = None,
    client: Annotated[
        str | None,
        typer.Option("--client", metavar="NAME", help="Registered client: print its client token."),
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            metavar="SCOPE",
            help="Narrow the token to this scope (repeatable). Default: all allowed.",
        ),
    ] = None,
) -> None:
    """Print an access token (only the token) for a customer or a registered client.

    Give exactly one of --user EMAIL or --client NAME.
    """
    if (user is None) == (client is None):
        _fail(
            "Give exactly one of --user EMAIL or --client NAME.\n"
            "Usage: ticketing token (--user EMAIL | --client NAME) [--scope SCOPE ...]",
            2,
        )
    try:
        settings = IdpSettings()
    except ValidationError as exc:
        _fail(f"Invalid dev identity provider settings:\n{exc}", 2)
    requested = _split_scopes(scope)
    key = load_or_create_signing_key(settings.key_dir)

    if client is not None:
        registry = ClientRegistry.load(key, settings.clients_file)
        registered = registry.get(client)
        if registered is None:
            _fail(
                f"no client named {client} (registered: {', '.join(registry.names())})",
                2,
            )
        if CLIENT_CREDENTIALS not in registered.grant_types:
            _fail(f"client {client} cannot use client credentials; use --user for its users", 2)
        scopes = requested or registered.scopes
        refused = [s for s in scopes if s not in registered.scopes]
        if refused:
            _fail(
                f"client {client} may not have {' '.join(refused)} "
                f"(allowed: {' '.join(registered.scopes)})",
                2,
            )
        typer.echo(
            mint_access_token(
                key=key,
                issuer=settings.issuer,
                sub=registered.client_id,
                client_id=registered.client_id,
                scopes=scopes,
                ttl=settings.token_ttl_seconds,
            )
        )
        return

    assert user is not None
    from servers.devidp.users import UserDirectoryError

    scopes = requested or CUSTOMER_SCOPES
    refused = [s for s in scopes if s not in CUSTOMER_SCOPES]
    if refused:
        _fail(
            f"customers may not have {' '.join(refused)} "
            f"(customer scopes: {' '.join(CUSTOMER_SCOPES)})",
            2,
        )
    if not settings.database_url:
        _fail("set IDP_DATABASE_URL or DATABASE_URL to look customers up", 2)
    try:
        customer = lookup_customer(settings.database_url, user)
    except UserDirectoryError as exc:
        _fail(str(exc), 1)
    if customer is None:
        emails = known_emails(settings.database_url)
        hint = f" (seeded customers: {', '.join(emails)})" if emails else " (no customers found)"
        _fail(f"no customer with e-mail {user}{hint}", 1)
    typer.echo(
        mint_access_token(
            key=key,
            issuer=settings.issuer,
            sub=customer.customer_id,
            client_id=USER_CLIENT_ID,
            scopes=scopes,
            username=customer.email,
            ttl=settings.token_ttl_seconds,
        )
    )
