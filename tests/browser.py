"""The real browser of the browser tests: Debian's chromium, driven by Playwright.

Playwright's own browser download is never used (it cannot download here): the system chromium,
with nothing that reaches out to the network or needs a sandbox (CI runs as root).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no chromium at {CHROMIUM}: `make chromium` installs it (make test does), "
    "or set CHROMIUM to its path",
)
