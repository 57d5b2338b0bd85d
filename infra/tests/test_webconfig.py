"""What is made from the deploy outputs: config.json (the web stack's ``config*`` outputs,
renamed) and the opt-in smoke script's URLs."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.conftest import INFRA, Synth
from ticketing_infra.webconfig import output_key, web_config


def _app_config_fields() -> set[str]:
    """The fields of the web app's config.json, from the app's own type of it."""
    source = (INFRA.parent / "web" / "src" / "config.ts").read_text(encoding="utf-8")
    body = re.search(r"interface AppConfig \{(.*?)\}", source, re.S)
    assert body is not None
    return set(re.findall(r"^\s+(\w+): string;", body[1], re.M))


APP_FIELDS = _app_config_fields()


def test_config_json_takes_the_web_stacks_config_outputs_only() -> None:
    outputs = {
        "TicketingWeb": {
            "configClientId": "abc",
            "configTicketUrl": "https://t",
            "SiteBucket": "bucket",
        },
        "TicketingData": {"configClientId": "not this one"},
    }
    assert web_config(outputs) == {"client_id": "abc", "ticket_url": "https://t"}


def test_an_output_key_names_the_apps_field_it_comes_back_as() -> None:
    assert output_key("client_id") == "configClientId"
    for name in APP_FIELDS:
        assert web_config({"TicketingWeb": {output_key(name): "x"}}) == {name: "x"}


def test_without_the_web_stack_it_says_so() -> None:
    with pytest.raises(SystemExit, match="no outputs of TicketingWeb"):
        web_config({})


def test_the_web_stack_outputs_the_apps_config_json(synth: Synth) -> None:
    """Every field of web/src/config.ts's AppConfig, and nothing else: the deployed app reads
    exactly this file."""
    assert {"issuer", "client_id", "ticket_url", "payment_url", "chat_url"} <= APP_FIELDS
    outputs = synth.templates["TicketingWeb"]["Outputs"]
    keys = {k: v for k, v in outputs.items() if k.startswith("config")}
    assert set(web_config({"TicketingWeb": dict.fromkeys(keys, "x")})) == APP_FIELDS
    # The issuer is Cognito's, whose discovery document the app's sign-in reads.
    [issuer] = [v["Value"] for k, v in keys.items() if k == output_key("issuer")]
    assert "cognito-idp" in json.dumps(issuer)


def test_the_smoke_script_parses_and_reads_only_outputs_the_stacks_have(synth: Synth) -> None:
    script = INFRA / "smoke.sh"
    subprocess.run(["/bin/bash", "-n", str(script)], check=True)
    wanted = re.findall(r"\$\(out (\w+) (\w+)\)", script.read_text())
    assert len(wanted) == 7
    for stack, output in wanted:
        assert output in synth.templates[stack]["Outputs"], (stack, output)
