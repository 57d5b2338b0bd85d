"""One offline synth of the whole app per test session; tests read its templates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from ticketing_infra.app import build

INFRA = Path(__file__).resolve().parents[1]
REPO = INFRA.parent


@dataclass
class Synth:
    app: App
    templates: dict[str, dict[str, Any]]

    def resources(self, kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(stack, logical id, properties) of every resource of a CloudFormation type."""
        for stack, template in self.templates.items():
            for logical, resource in template["Resources"].items():
                if resource["Type"] == kind:
                    yield stack, logical, resource.get("Properties", {})


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    out = tmp_path_factory.mktemp("cdk.out")
    context = json.loads((INFRA / "cdk.json").read_text())["context"]
    context |= json.loads((INFRA / "cdk.context.json").read_text())
    app = build(App(outdir=str(out), context=context))
    assembly = app.synth()
    templates = {s.stack_name: dict(s.template) for s in assembly.stacks}
    return Synth(app, templates)
