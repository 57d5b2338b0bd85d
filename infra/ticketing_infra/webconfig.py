"""``python -m ticketing_infra.webconfig OUTPUTS.json``: the web app's ``config.json`` from the
outputs `cdk deploy --outputs-file` wrote, on stdout (`make deploy` uploads it beside the app)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

WEB_STACK = "TicketingWeb"
PREFIX = "config"


def web_config(outputs: dict[str, dict[str, str]]) -> dict[str, str]:
    """``{"TicketingWeb": {"configClientId": "abc", ...}}`` becomes ``{"clientId": "abc"}``."""
    try:
        web = outputs[WEB_STACK]
    except KeyError:
        raise SystemExit(f"no outputs of {WEB_STACK}: was it deployed?") from None
    return {
        key[len(PREFIX)].lower() + key[len(PREFIX) + 1 :]: value
        for key, value in sorted(web.items())
        if key.startswith(PREFIX) and len(key) > len(PREFIX)
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(json.dumps(web_config(json.loads(Path(sys.argv[1]).read_text())), indent=2))
