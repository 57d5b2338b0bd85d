"""The official MCP conformance suite and the MCP Inspector's CLI against every server, over real
HTTP. The suite cannot send a token, so it goes through a test-only token-adding proxy; the
Inspector sends the token itself with ``--header``.

Each scenario of the suite either passes or is listed in expected_failures.json with a reason.
An expected failure that starts passing fails the test too, so the file never goes stale. The
per-scenario results are written to .dev/conformance-results.md.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import CONFORMANCE, INSPECTOR, RESULTS_DIR, Target, node
from .proxy import token_proxy

pytestmark = pytest.mark.http

SERVERS = ("data", "ticket", "payment", "notify")
EXPECTED_FAILURES = Path(__file__).with_name("expected_failures.json")
EVERY_SERVER = "*"
SUITE_TIMEOUT = 300.0
CLI_TIMEOUT = 60.0

# A result directory is named server-<scenario>-<ISO time with ':' and '.' as '-'>.
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$")


@dataclass
class ScenarioResult:
    scenario: str
    failures: list[str]
    warnings: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class Report:
    """Per server, per scenario: what happened and what was expected; written out at the end."""

    rows: dict[str, list[tuple[ScenarioResult, str | None]]] = field(default_factory=dict)

    def markdown(self) -> str:
        lines = [
            "# MCP conformance results",
            "",
            "Written by tests/conformance/test_clients.py (`make test`); the suite is",
            "`@modelcontextprotocol/conformance` as pinned in tools/node/package.json.",
        ]
        for server, rows in self.rows.items():
            lines += ["", f"## {server}", "", "| scenario | result | detail |", "|---|---|---|"]
            for result, reason in rows:
                if result.passed:
                    status = "pass" if reason is None else "PASS, but listed as expected failure"
                    detail = "; ".join(result.warnings) if result.warnings else ""
                else:
                    status = "FAIL" if reason is None else "expected failure"
                    detail = reason if reason is not None else "; ".join(result.failures)
                lines.append(f"| {result.scenario} | {status} | {_cell(detail)} |")
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:400]


@pytest.fixture(scope="module")
def report() -> Generator[Report, None, None]:
    collected = Report()
    yield collected
    if collected.rows:
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / "conformance-results.md").write_text(collected.markdown())


def expected_failures(server: str) -> dict[str, str]:
    """Scenario -> reason, for one server (the ``*`` entries apply to every server)."""
    listed: dict[str, dict[str, str]] = json.loads(EXPECTED_FAILURES.read_text())
    return {**listed.get(EVERY_SERVER, {}), **listed.get(server, {})}


def run_suite(url: str, out: Path, env: dict[str, str]) -> list[ScenarioResult]:
    """Every active server scenario of the suite against ``url``, one result per scenario."""
    done = subprocess.run(
        [node(), str(CONFORMANCE), "server", "--url", url, "--output-dir", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        check=False,
    )
    results = []
    for directory in sorted(out.iterdir()):
        match = _RESULT_DIR.match(directory.name)
        assert match, f"unexpected result directory {directory.name}"
        checks: list[dict[str, Any]] = json.loads((directory / "checks.json").read_text())
        results.append(
            ScenarioResult(
                scenario=match["scenario"],
                failures=[_describe(c) for c in checks if c["status"] == "FAILURE"],
                warnings=[_describe(c) for c in checks if c["status"] == "WARNING"],
            )
        )
    assert results, f"the suite ran no scenario\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return results


def _describe(check: dict[str, Any]) -> str:
    message = check.get("errorMessage") or check.get("description") or ""
    return f"{check.get('id', check.get('name', '?'))}: {message}"


@pytest.mark.parametrize("server", SERVERS)
def test_conformance_suite(
    server: str,
    targets: dict[str, Target],
    node_env: dict[str, str],
    report: Report,
    tmp_path: Path,
) -> None:
    target = targets[server]
    expected = expected_failures(server)
    with token_proxy(target.process.url, target.token) as proxy:
        results = run_suite(f"{proxy}/mcp", tmp_path, node_env)
    report.rows[server] = [(r, expected.get(r.scenario)) for r in results]

    unexpected = {
        r.scenario: r.failures for r in results if not r.passed and r.scenario not in expected
    }
    stale = sorted(r.scenario for r in results if r.passed and r.scenario in expected)
    unknown = sorted(set(expected) - {r.scenario for r in results})
    assert not unexpected, f"{server}: scenarios failing:\n" + json.dumps(unexpected, indent=2)
    assert not stale, f"{server}: passing now, remove from expected_failures.json: {stale}"
    assert not unknown, (
        f"{server}: expected_failures.json names scenarios the suite lacks: {unknown}"
    )


# --- MCP Inspector CLI -------------------------------------------------------------------------


def inspector(target: Target, env: dict[str, str], *args: str) -> dict[str, Any]:
    """One Inspector CLI call with the server's token; the MCP result it printed."""
    done = subprocess.run(
        [
            node(),
            str(INSPECTOR),
            "--cli",
            target.mcp_url,
            "--transport",
            "http",
            "--header",
            f"Authorization: Bearer {target.token}",
            "--format",
            "json",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"inspector {args} exited {done.returncode}:\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)["result"]
    return result


# One read-only call per server that needs nothing but the seed data.
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "data": ("find_customer", {"email": "john.doe@example.com"}),
    "ticket": ("list_my_tickets", {}),
    "payment": ("list_events", {"limit": 5}),
    "notify": ("list_templates", {}),
}


@pytest.mark.parametrize("server", SERVERS)
def test_inspector_lists_and_calls_tools(
    server: str, targets: dict[str, Target], node_env: dict[str, str]
) -> None:
    target = targets[server]
    tool, arguments = CALLS[server]

    listed = inspector(target, node_env, "--method", "tools/list")
    assert tool in {t["name"] for t in listed["tools"]}

    called = inspector(
        target,
        node_env,
        "--method",
        "tools/call",
        "--tool-name",
        tool,
        "--tool-args-json",
        json.dumps(arguments),
    )
    assert not called.get("isError"), called
    assert called["structuredContent"], called


def test_inspector_reads_resources_and_gets_prompts(
    targets: dict[str, Target], node_env: dict[str, str]
) -> None:
    """Only the ticket server has resources and prompts."""
    ticket = targets["ticket"]

    tiers = inspector(ticket, node_env, "--method", "resources/read", "--uri", "tickets://tiers")
    catalogue = json.loads(tiers["contents"][0]["text"])
    assert {tier["tier"] for tier in catalogue} == {"standard", "non_stop", "double_fun"}

    prompt = inspector(
        ticket,
        node_env,
        "--method",
        "prompts/get",
        "--prompt-name",
        "upgrade_ticket",
        "--prompt-args",
        "ticket_number=TKT-TEST0001",
    )
    assert "TKT-TEST0001" in json.dumps(prompt["messages"])
