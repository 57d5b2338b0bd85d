"""The ticket server's MCP Apps (the MCP Apps extension, ``io.modelcontextprotocol/ui``): the
priced calendar and the upgrade summary, shown by assistants that render apps in place of
get_availability_calendar's and quote_upgrade's results.

Each app is one self-contained HTML document built from the web app's components (web/apps,
``make web``) into :data:`APPS_DIR`. It is read when asked for, so the server starts (and every
tool works, for any client) before it is built; a host that asks for an unbuilt app gets
``APP_NOT_BUILT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastmcp import FastMCP
from fastmcp.apps.config import UI_MIME_TYPE, AppConfig, ResourceCSP
from fastmcp.exceptions import ResourceError

APPS_DIR = Path(__file__).parent / "ui"


@dataclass(frozen=True)
class McpApp:
    uri: str
    file: str
    name: str
    description: str

    @property
    def link(self) -> AppConfig:
        """A tool's ``_meta.ui``: the app a host shows that tool's result in."""
        return AppConfig(resource_uri=self.uri)


CALENDAR_APP = McpApp(
    uri="ui://ticket/calendar.html",
    file="calendar.html",
    name="upgrade_calendar",
    description="The priced calendar of one ticket's upgrade tier: choosing a date quotes it.",
)
SUMMARY_APP = McpApp(
    uri="ui://ticket/summary.html",
    file="summary.html",
    name="upgrade_summary",
    description="An upgrade's quote: tier, date, base price, price band and total.",
)
APPS = (CALENDAR_APP, SUMMARY_APP)

# No origin at all beyond the document itself: the apps reach the ticket server only through the
# host (tools/call over postMessage), and bring their scripts and styles inline.
SANDBOX = AppConfig(csp=ResourceCSP(connect_domains=[], resource_domains=[]), prefers_border=True)


def register_apps(mcp: FastMCP, apps_dir: Path = APPS_DIR) -> None:
    """Serves each app as its ``ui://`` resource (``text/html;profile=mcp-app``)."""
    for app in APPS:
        _register(mcp, app, apps_dir / app.file)


def _register(mcp: FastMCP, app: McpApp, path: Path) -> None:
    @mcp.resource(
        app.uri,
        name=app.name,
        description=app.description,
        mime_type=UI_MIME_TYPE,
        app=SANDBOX,
    )
    def html() -> str:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ResourceError(
                f"APP_NOT_BUILT: {app.uri} is not built on this server (make web builds it)"
            ) from None
