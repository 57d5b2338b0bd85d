"""`cdk synth` through the real CLI, as `make synth` and `cdk deploy` run it: offline, with the
committed context, and no AWS credentials."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest

from tests.conftest import INFRA


def test_there_is_no_network_here() -> None:
    # make test runs these tests in a network namespace with loopback only: the synth below
    # then proves it needs nothing from outside.
    with (
        pytest.raises(OSError, match="unreachable"),
        socket.create_connection(("198.51.100.1", 443), timeout=2),
    ):
        pass


def test_cdk_synth_lists_every_stack_offline(tmp_path_factory: pytest.TempPathFactory) -> None:
    cdk = INFRA / "node_modules" / ".bin" / "cdk"
    assert cdk.exists(), "make infra-tools installs the aws-cdk CLI"
    assert shutil.which("node"), "Node 22 from tools/node must be on PATH"
    out = tmp_path_factory.mktemp("cli.out")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_REGION": "us-west-2", "CDK_DISABLE_VERSION_CHECK": "1"}
    listed = subprocess.run(
        [str(cdk), "list", "--no-notices", "--output", str(out)],
        cwd=INFRA,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert sorted(listed.stdout.split()) == [
        "TicketingData",
        "TicketingEdge",
        "TicketingIdentity",
        "TicketingMail",
        "TicketingMcpDomains",
        "TicketingMemory",
        "TicketingObservability",
        "TicketingRestEdge",
        "TicketingRuntimes",
        "TicketingWeb",
        "TicketingWebGlobal",
    ]
    assert (out / "TicketingRuntimes.template.json").exists()
