"""Generated parts of README.md: each server's tool table and the configuration table.

``ticketing docs`` rewrites the blocks between ``<!-- BEGIN name -->`` and ``<!-- END name -->``;
a test fails when the README differs from what this module generates.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastmcp import Client, FastMCP
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from host.settings import HostSettings
from servers.core.auth import Principal
from servers.core.client import ServiceClient
from servers.core.db import Transaction
from servers.core.settings import DatabaseSettings, ServerSettings
from servers.data.server import build_server as build_data_server
from servers.data.service import DataService
from servers.data.settings import DataSettings
from servers.devidp.settings import IdpSettings
from servers.notify.server import build_server as build_notify_server
from servers.notify.service import NotifyService
from servers.notify.settings import NotifySettings
from servers.payment.server import build_server as build_payment_server
from servers.payment.service import PaymentService
from servers.payment.settings import PaymentSettings
from servers.ticket.gateways import DataGateway, NotifyGateway, PaymentGateway
from servers.ticket.help.desk import HelpDesk, venue_library
from servers.ticket.help.gateway import SupportGateway
from servers.ticket.help.search import HelpIndex
from servers.ticket.journey import Journey
from servers.ticket.server import build_server as build_ticket_server
from servers.ticket.service import TicketService
from servers.ticket.settings import TicketSettings
from servers.ticket.webhooks import PaymentEvents

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCUMENTS = (
    README,
    ROOT / "servers" / "data" / "README.md",
    ROOT / "servers" / "notify" / "README.md",
    ROOT / "servers" / "payment" / "README.md",
    ROOT / "servers" / "ticket" / "README.md",
)


class _NoDatabase:
    """Listing tools never touches the database; using it here would be a bug."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        raise RuntimeError("documentation must not query the database")
        yield  # pragma: no cover

    def read(self) -> AbstractAsyncContextManager[Transaction]:
        return self.autocommit()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Transaction]:
        raise RuntimeError("documentation must not query the database")
        yield  # pragma: no cover

    async def close(self) -> None:
        return None


def servers() -> dict[str, FastMCP]:
    return {
        "data": build_data_server(DataService(_NoDatabase())),
        "notify": build_notify_server(
            NotifyService(_NoDatabase(), sender="docs@example.com", message_id_domain="example.com")
        ),
        "payment": build_payment_server(PaymentService(_NoDatabase(), fingerprint_key=b"docs")),
        "ticket": _ticket_server(),
    }


def _ticket_server() -> FastMCP:
    unused = ServiceClient(Client(FastMCP("unused")), caller=Principal("docs"))
    data = DataGateway(unused)
    service = TicketService(data)
    notify = NotifyGateway(unused)
    journey = Journey(service, data, PaymentGateway(unused), notify)
    settings = TicketSettings.model_construct()
    support = settings.support_hours
    library = venue_library(
        hold_minutes=settings.hold_minutes, support=support, support_email=settings.support_inbox
    )
    help_desk = HelpDesk(
        HelpIndex(library), service, SupportGateway(unused), notify, support, settings.support_inbox
    )
    return build_ticket_server(
        service,
        journey,
        operator_client_ids=frozenset(),
        help_desk=help_desk,
        payment_events=PaymentEvents(journey, "unused: documentation only"),
    )


def _hints(annotations: object) -> str:
    names = {
        "read_only_hint": "read-only",
        "destructive_hint": "destructive",
        "idempotent_hint": "idempotent",
        "open_world_hint": "open-world",
    }
    return ", ".join(label for attr, label in names.items() if getattr(annotations, attr, False))


async def tool_table(server: FastMCP) -> str:
    rows = ["| tool | scopes | annotations | summary |", "|---|---|---|---|"]
    for tool in sorted(await server.list_tools(), key=lambda t: t.name):
        scopes = ", ".join(f"`{s}`" for s in (tool.meta or {}).get("scopes", []))
        summary = " ".join((tool.description or "").strip().split("\n\n")[0].split())
        rows.append(f"| `{tool.name}` | {scopes} | {_hints(tool.annotations)} | {summary} |")
    return "\n".join(rows)


def _env_names(settings: type[BaseSettings], name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if alias is not None:
        choices = getattr(alias, "choices", [alias])
        return " / ".join(f"`{c}`" for c in choices if isinstance(c, str))
    prefix = settings.model_config.get("env_prefix", "")
    return f"`{prefix}{name}`".upper()


def _settings_rows(settings: type[BaseSettings], skip: set[str]) -> Iterator[str]:
    for name, field in settings.model_fields.items():
        if name in skip:
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(default)
        if isinstance(default, Path) and default.is_relative_to(ROOT):
            default = default.relative_to(ROOT)  # the same in every checkout
        shown = "" if default in (None, "") else f"`{default}`"
        yield f"| {_env_names(settings, name, field)} | {shown} | {field.description or ''} |"


def config_table() -> str:
    rows = [
        "| variable | default | meaning |",
        "|---|---|---|",
        "| `DATABASE_URL` | | `make run`: use this PostgreSQL instead of the embedded one |",
        "| `TICKETING_PG_PORT` | a free port, then remembered | port of the embedded PostgreSQL |",
        "| `PG_BIN` | found automatically | directory of PostgreSQL's `initdb` and `postgres` |",
        "| `MAIL_SINK_PORT` | `1025` | `make run`: SMTP port of the local mail sink |",
        "| `MAIL_SINK_HTTP_PORT` | `8025` | `make run`: the sink's `GET /health` |",
        "| `MAIL_SINK_DIR` | `.dev/mail` | where the sink keeps e-mails for `ticketing mail` |",
    ]
    rows += _settings_rows(IdpSettings, skip=set())
    rows += _settings_rows(DataSettings, skip={"dev_mode"})
    shared = set(ServerSettings.model_fields) | set(DatabaseSettings.model_fields)
    rows += _settings_rows(NotifySettings, skip=shared)
    rows += _settings_rows(PaymentSettings, skip=shared)
    rows += _settings_rows(TicketSettings, skip=shared)
    # The host's own fields, and the shared ones it gives another meaning (port, AWS region).
    rows += _settings_rows(HostSettings, skip=shared - set(HostSettings.__annotations__))
    rows.append("")
    rows.append(
        "Every MCP server reads the same fields as the data server with its own prefix "
        f"({', '.join(sorted(_server_prefixes()))}), except that the ticket server keeps no "
        "data and has no database fields (`DB_BACKEND` to `AWS_REGION`); so does the concierge "
        "host (`HOST_`), with the rows of its own above. `make run` sets ports, URLs, the issuer "
        "and `DEV_MODE=1`."
    )
    return "\n".join(rows)


# The MCP servers' settings, named: ServerSettings.__subclasses__() depended on what else was
# imported (the host's settings, in a test run), so the table did too.
MCP_SERVER_SETTINGS: tuple[type[ServerSettings], ...] = (
    DataSettings,
    NotifySettings,
    PaymentSettings,
    TicketSettings,
)


def _server_prefixes() -> set[str]:
    return {f"`{cls.model_config.get('env_prefix', '')}`" for cls in MCP_SERVER_SETTINGS}


async def generate_blocks() -> dict[str, str]:
    blocks = {f"tools:{name}": await tool_table(server) for name, server in servers().items()}
    blocks["config"] = config_table()
    return blocks


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- BEGIN {re.escape(name)} -->\n).*?(<!-- END {re.escape(name)} -->)", re.S
    )


def _filler(body: str) -> Callable[[re.Match[str]], str]:
    return lambda match: f"{match[1]}{body}\n{match[2]}"


def render(document: str, blocks: dict[str, str], *, require_all: bool = True) -> str:
    """``document`` with its generated blocks replaced. The root README must hold every block;
    other documents hold some."""
    for name, body in blocks.items():
        pattern = _pattern(name)
        if not pattern.search(document):
            if require_all:
                raise ValueError(f"README.md has no block {name!r}")
            continue
        document = pattern.sub(_filler(body), document)
    return document


def stale_documents(blocks: dict[str, str], *, write: bool) -> list[Path]:
    """The documents whose generated blocks are out of date; rewritten when ``write``."""
    stale = []
    for path in DOCUMENTS:
        current = path.read_text(encoding="utf-8")
        updated = render(current, blocks, require_all=path == README)
        if updated != current:
            stale.append(path)
            if write:
                path.write_text(updated, encoding="utf-8")
    return stale
