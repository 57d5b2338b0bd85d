"""``python -m ticketing_infra.webconfig OUTPUTS.json``: the web app's ``config.json`` from the
outputs `cdk deploy --outputs-file` wrote, on stdout (`make deploy` uploads it beside the app).

The web stack outputs each key of the app's ``config.json`` (web/src/config.ts) as ``config``
and the key in CamelCase (``client_id`` as ``configClientId``): CloudFormation's output names
are letters and digits only. :func:`output_key` and :func:`web_config` are the two ways of that
one naming."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

WEB_STACK = "TicketingWeb"
PREFIX = "config"


def output_key(name: str) -> str:
    """The web stack's output for the app's ``name``: ``client_id`` -> ``configClientId``."""
    return PREFIX + "".join(part.capitalize() for part in name.split("_"))


def web_config(outputs: dict[str, dict[str, str]]) -> dict[str, str]:
    """``{"TicketingWeb": {"configClientId": "abc", ...}}`` becomes ``{"client_id": "abc"}``."""
    try:
        web = outputs[WEB_STACK]
    except KeyError:
        raise SystemExit(f"no outputs of {WEB_STACK}: was it deployed?") from None
    return {
        re.sub(r"(?<!^)(?=[A-Z])", "_", key[len(PREFIX) :]).lower(): value
        for key, value in sorted(web.items())
        if key.startswith(PREFIX) and key[len(PREFIX) : len(PREFIX) + 1].isupper()
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(json.dumps(web_config(json.loads(Path(sys.argv[1]).read_text())), indent=2))
