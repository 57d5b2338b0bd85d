"""cdk-nag's AWS Solutions checks: the synth itself fails on any unacknowledged finding (the
plugin is part of the app), so these tests list what is acknowledged and check each reason."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Synth
from ticketing_infra.nag import ACKNOWLEDGED


def test_the_aws_solutions_checks_pass(synth: Synth) -> None:
    report = Path(synth.app.outdir) / "validation-report.json"
    if report.exists():  # written when a plugin ran; a failure would have raised at synth
        plugins = json.loads(report.read_text())["pluginReports"]
        assert all(p["conclusion"] == "success" for p in plugins), plugins


def test_every_acknowledgment_names_a_rule_and_gives_a_reason(synth: Synth) -> None:
    assert ACKNOWLEDGED
    for ack in ACKNOWLEDGED:
        assert ack.rule.startswith("AwsSolutions-"), ack
        assert len(ack.reason.split()) >= 12, ack
    # Printed with -v (and in the report of the issue): what is accepted, where, and why.
    for ack in sorted(ACKNOWLEDGED, key=lambda a: (a.rule, a.path)):
        print(f"{ack.rule} @ {ack.path}: {ack.reason}")


def test_nothing_is_acknowledged_for_a_whole_stack_or_app(synth: Synth) -> None:
    for ack in ACKNOWLEDGED:
        # A construct inside a stack, never a stack (one name) or the app (an empty path).
        assert ack.path.count("/") >= 1, ack


def test_the_only_wildcard_resources_acknowledged_are_on_the_runtime_and_function_roles(
    synth: Synth,
) -> None:
    wildcard = [a for a in ACKNOWLEDGED if a.rule.startswith("AwsSolutions-IAM5")]
    assert wildcard
    assert {a.path.split("/")[1] for a in wildcard} == {
        "DataRole",
        "TicketRole",
        "PaymentRole",
        "NotifyRole",
        "HostRole",
        "Migrations",
    }
    # Tracing's X-Ray calls only, on the functions' roles.
    functions = [a for a in wildcard if a.path.split("/")[1] == "Migrations"]
    assert [a.rule for a in functions] == ["AwsSolutions-IAM5[Resource::*]"]
