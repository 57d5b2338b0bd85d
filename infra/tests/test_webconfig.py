"""What is made from the deploy outputs: config.json (the web stack's ``config*`` outputs,
renamed) and the opt-in smoke script's URLs."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import INFRA, Synth
from ticketing_infra.webconfig import web_config


def test_config_json_takes_the_web_stacks_config_outputs_only() -> None:
    outputs = {
        "TicketingWeb": {
            "configClientId": "abc",
            "configTicketUrl": "https://t",
            "SiteBucket": "bucket",
        },
        "TicketingData": {"configClientId": "not this one"},
    }
    assert web_config(outputs) == {"clientId": "abc", "ticketUrl": "https://t"}


def test_without_the_web_stack_it_says_so() -> None:
    with pytest.raises(SystemExit, match="no outputs of TicketingWeb"):
        web_config({})


def test_the_web_stack_outputs_what_the_app_needs(synth: Synth) -> None:
    outputs = synth.templates["TicketingWeb"]["Outputs"]
    keys = {k: v for k, v in outputs.items() if k.startswith("config")}
    assert set(web_config({"TicketingWeb": dict.fromkeys(keys, "x")})) == {
        "region",
        "userPoolId",
        "clientId",
        "authDomain",
        "ticketUrl",
        "paymentUrl",
        "chatUrl",
    }


def test_the_smoke_script_parses_and_reads_only_outputs_the_stacks_have(synth: Synth) -> None:
    script = INFRA / "smoke.sh"
    subprocess.run(["/bin/bash", "-n", str(script)], check=True)
    wanted = re.findall(r"\$\(out (\w+) (\w+)\)", script.read_text())
    assert len(wanted) == 7
    for stack, output in wanted:
        assert output in synth.templates[stack]["Outputs"], (stack, output)
