"""Real MCP clients against every server: the official conformance suite and the MCP Inspector's
CLI, both on the Node 22 that ``make tools`` installs in tools/node.

The servers are those of tests/conftest.py's ``full_stack`` (real processes, real HTTP, real
PostgreSQL). Each server gets a token minted for its own scopes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from servers.core.scopes import ALL_SCOPES, resource_server
from tests.http.conftest import FullStack, ServerProcess

REPO = Path(__file__).resolve().parents[2]
NODE_TOOLS = REPO / "tools" / "node"
NODE_BIN = NODE_TOOLS / "node_modules" / "node" / "bin"
CONFORMANCE = (
    NODE_TOOLS / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
)
INSPECTOR = (
    NODE_TOOLS
    / "node_modules"
    / "@modelcontextprotocol"
    / "inspector"
    / "clients"
    / "launcher"
    / "build"
    / "index.js"
)
RESULTS_DIR = REPO / ".dev"
CUSTOMER_EMAIL = "john.doe@example.com"


@dataclass(frozen=True)
class Target:
    """One server under test: its MCP endpoint and a token for its own scopes."""

    name: str
    process: ServerProcess
    token: str

    @property
    def mcp_url(self) -> str:
        return f"{self.process.url}/mcp"


@pytest.fixture(scope="session")
def node_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment for the Node tools: the project's Node 22 first on PATH and a HOME of
    their own, so the Inspector's catalog and secrets never touch the user's."""
    if not (NODE_BIN / "node").exists() or not CONFORMANCE.exists() or not INSPECTOR.exists():
        pytest.fail("the Node tools are not installed: run `make tools`", pytrace=False)
    home = tmp_path_factory.mktemp("node-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "NPM_", "npm_"))}
    env.update({"PATH": f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}", "HOME": str(home)})
    return env


def node() -> str:
    return str(NODE_BIN / "node")


def scopes_of(server: str) -> tuple[str, ...]:
    return tuple(s for s in ALL_SCOPES if resource_server(s) == server)


@pytest.fixture(scope="module")
def customer_id(full_stack: FullStack) -> str:
    with psycopg.connect(full_stack.database_url) as conn:
        row = conn.execute(
            "SELECT customer_id FROM data.customers WHERE email = %s", (CUSTOMER_EMAIL,)
        ).fetchone()
    assert row is not None, f"{CUSTOMER_EMAIL} is not in the seed data"
    return str(row[0])


@pytest.fixture(scope="module")
def targets(full_stack: FullStack, customer_id: str) -> dict[str, Target]:
    """Every MCP server of the stack. The service servers get the ``ops`` client's token for
    their own scopes; the ticket server a customer's token, as the web app's login gives it."""
    base = full_stack.base
    return {
        "data": Target("data", base.data, base.token(scopes_of("data"))),
        "payment": Target("payment", full_stack.payment, base.token(scopes_of("payments"))),
        "notify": Target("notify", full_stack.notify, base.token(scopes_of("notify"))),
        "ticket": Target(
            "ticket",
            full_stack.ticket,
            base.token(scopes_of("tickets"), client_id="web", sub=customer_id),
        ),
    }
