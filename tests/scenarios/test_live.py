"""The customer scenarios with a real model (``make scenarios``): each is run ``SCENARIO_RUNS``
times (4 by default) on one stack and one host, judged by the end state and the events, and
pass^1 and pass^k are reported (printed, and written as JSON to ``SCENARIO_REPORT``).

Skipped unless a model is configured (``HOST_MODEL_PROVIDER`` and the settings the provider
needs, as for ``make run``). ``SCENARIOS=name,name`` runs a subset. A model that fails to get a
customer what they wanted lowers the rates; a run that breaks a safety rule (a code or card
number shown, another customer's ticket touched, a turn that failed) fails the test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from host.providers.factory import build_provider
from tests.host.support import running_host, settings_for
from tests.http.conftest import FullStack
from tests.scenarios.play import run_all
from tests.scenarios.spec import load_all

pytestmark = [
    pytest.mark.live,
    pytest.mark.http,
    pytest.mark.skipif(
        not os.environ.get("HOST_MODEL_PROVIDER"),
        reason="no model configured: set HOST_MODEL_PROVIDER (and its settings) to run",
    ),
]

RUNS = int(os.environ.get("SCENARIO_RUNS", "4"))
REPORT = Path(os.environ.get("SCENARIO_REPORT", ".dev/scenarios.json"))


def write_report(summary: dict[str, object]) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


async def test_the_scenarios_with_a_real_model(
    full_stack: FullStack, capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = {n for n in os.environ.get("SCENARIOS", "").split(",") if n}
    scenarios = {n: s for n, s in load_all().items() if not wanted or n in wanted}
    assert scenarios, f"no scenario named {sorted(wanted)}"
    provider = build_provider(settings_for(full_stack))
    assert provider is not None
    async with running_host(full_stack, provider) as host:
        report = await run_all(host, full_stack, scenarios, RUNS, lambda _name, _world: None)
    k = min(4, RUNS)
    summary = {
        "model": f"{os.environ['HOST_MODEL_PROVIDER']} {os.environ.get('HOST_MODEL_ID', '')}",
        **report.summary(k),
    }
    write_report(summary)
    with capsys.disabled():
        print()
        for name, verdicts in report.verdicts.items():
            print(f"{sum(v.passed for v in verdicts)}/{len(verdicts)}  {name}")
        print(f"pass^1 {summary['pass^1']}  pass^{k} {summary[f'pass^{k}']}  ({REPORT})")
    assert report.breaches == []
