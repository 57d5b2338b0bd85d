"""config.json from the deploy outputs: the web stack's ``config*`` outputs, renamed."""

from __future__ import annotations

import pytest

from tests.conftest import Synth
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
