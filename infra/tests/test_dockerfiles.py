"""The runtime images' Dockerfiles: pinned base, non-root, no dev dependencies, and a command
that serves MCP where AgentCore expects it (0.0.0.0:8000, path /mcp)."""

from __future__ import annotations

import ast
import re
import shlex

import pytest
from servers.core.resource_metadata import MCP_PATH

from tests.conftest import INFRA, REPO
from ticketing_infra.servers import HOST, MCP_SERVERS, PAYMENT, Deployed, McpServer

RUNTIMES: tuple[Deployed, ...] = (*MCP_SERVERS, HOST)
PINNED = re.compile(r"^python:\d+\.\d+\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?$")


def instructions(name: str) -> list[tuple[str, str]]:
    """The instructions of infra/docker/NAME.Dockerfile, continuation lines joined."""
    text = (INFRA / "docker" / f"{name}.Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def final_stage(name: str) -> list[tuple[str, str]]:
    steps = instructions(name)
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def env_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in steps:
        if op == "ENV":
            env |= dict(part.split("=", 1) for part in shlex.split(args))
    return env


@pytest.mark.parametrize("server", RUNTIMES, ids=lambda s: s.name)
def test_the_base_image_is_pinned_to_a_patch_release_for_arm64(server: Deployed) -> None:
    steps = instructions(server.name)
    [default] = [
        a.split("=", 1)[1] for op, a in steps if op == "ARG" and a.startswith("PYTHON_IMAGE=")
    ]
    assert PINNED.match(default), default
    froms = [a for op, a in steps if op == "FROM" and not a.endswith(" AS apps")]
    assert froms
    for args in froms:
        assert args.startswith("--platform=linux/arm64 ${PYTHON_IMAGE}"), args


def test_the_ticket_image_builds_its_mcp_apps_from_the_locked_web_app() -> None:
    steps = instructions("ticket")
    [node] = [a.split("=", 1)[1] for op, a in steps if op == "ARG" and a.startswith("NODE_IMAGE=")]
    assert re.fullmatch(r"node:\d+\.\d+\.\d+-bookworm-slim", node), node
    runs = [a for op, a in steps if op == "RUN"]
    assert any(a.startswith("npm ci") for a in runs)
    assert any("build:apps -- calendar" in a and "build:apps -- summary" in a for a in runs)
    assert ("COPY", "--from=apps /src/servers/ticket/ui ./servers/ticket/ui") in steps


@pytest.mark.parametrize("server", RUNTIMES, ids=lambda s: s.name)
def test_the_server_runs_as_a_non_root_user(server: Deployed) -> None:
    users = [a for op, a in final_stage(server.name) if op == "USER"]
    assert users
    assert users[-1] not in {"root", "0"}


@pytest.mark.parametrize("server", RUNTIMES, ids=lambda s: s.name)
def test_locked_dependencies_without_dev_tools(server: Deployed) -> None:
    syncs = [a for op, a in instructions(server.name) if op == "RUN" and "uv sync" in a]
    assert syncs
    for args in syncs:
        assert "--locked" in args, args
        assert "--no-dev" in args, args
    final = final_stage(server.name)
    # The final stage copies the built virtualenv only: no uv, pip installs or sources.
    assert not [a for op, a in final if op == "RUN" and ("pip" in a or "uv " in a)]
    copies = [a for op, a in final if op == "COPY"]
    # The payment image also carries AWS's Lambda Web Adapter, a pinned release, for its hosted
    # checkout page (ticketing_infra/checkout.py); it is a binary, no dev tool.
    adapter = [a for a in copies if "aws-lambda-adapter" in a]
    assert copies == ["--from=build /app/.venv /app/.venv", *adapter]
    assert len(adapter) == (1 if server is PAYMENT else 0)
    for args in adapter:
        assert re.fullmatch(
            r"--from=public\.ecr\.aws/awsguru/aws-lambda-adapter:\d+\.\d+\.\d+ "
            r"/lambda-adapter /opt/extensions/lambda-adapter",
            args,
        ), args


@pytest.mark.parametrize("server", MCP_SERVERS, ids=lambda s: s.name)
def test_the_command_serves_mcp_on_all_interfaces_port_8000(server: McpServer) -> None:
    final = final_stage(server.name)
    prefix = str(server.settings.model_config.get("env_prefix"))
    env = env_of(final)
    assert env[f"{prefix}HOST"] == "0.0.0.0"
    assert env[f"{prefix}PORT"] == "8000"
    [cmd] = [a for op, a in final if op == "CMD"]
    assert ast.literal_eval(cmd) == ["python", "-m", f"servers.{server.name}"]
    # The kit serves MCP at the path AgentCore calls (it is pydantic-only, so importable here).
    assert MCP_PATH == "/mcp"


def test_the_host_serves_agentcores_http_contract_on_all_interfaces_port_8080() -> None:
    final = final_stage(HOST.name)
    env = env_of(final)
    assert env["HOST_HOST"] == "0.0.0.0"
    assert env["HOST_PORT"] == "8080"
    assert ("EXPOSE", "8080") in final
    [cmd] = [a for op, a in final if op == "CMD"]
    assert ast.literal_eval(cmd) == ["python", "-m", "host"]
    assert (REPO / "host" / "__main__.py").is_file()


def test_the_lambda_image_installs_the_locked_dependencies_checked_by_hash() -> None:
    steps = instructions("lambda")
    [default] = [
        a.split("=", 1)[1] for op, a in steps if op == "ARG" and a.startswith("LAMBDA_IMAGE=")
    ]
    # AWS's Python base image (runtime interface client, non-root user); the digest is pinned
    # when building for production, like the servers' base image.
    assert re.match(r"^public\.ecr\.aws/lambda/python:3\.\d+(@sha256:[0-9a-f]{64})?$", default)
    assert all(
        a.startswith("--platform=linux/arm64 ${LAMBDA_IMAGE}") for op, a in steps if op == "FROM"
    )
    [install] = [a for op, a in steps if op == "RUN" and "uv export" in a]
    for flag in ("--locked", "--no-dev", "--require-hashes"):
        assert flag in install, flag
    final = final_stage("lambda")
    assert not [a for op, a in final if op == "RUN"]
    assert [a for op, a in final if op == "COPY"] == ["--from=build /opt/task ${LAMBDA_TASK_ROOT}"]


def test_the_lambda_images_default_handler_exists() -> None:
    [cmd] = [a for op, a in final_stage("lambda") if op == "CMD"]
    [handler] = ast.literal_eval(cmd)
    module, function = handler.rsplit(".", 1)
    tree = ast.parse((REPO / (module.replace(".", "/") + ".py")).read_text())
    assert function in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
