"""The documents link only to files of the repository (a clone holds nothing beside it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ticketing.docs import ROOT

DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        *ROOT.glob("docs/*.md"),
        *ROOT.glob("servers/*/README.md"),
        *(ROOT / name / "README.md" for name in ("bench", "infra", "web")),
    ]
)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
# The stack's own addresses, which a reader running it can open.
_LOCAL = re.compile(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?(/|$)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_name_files_inside_the_repository(document: Path) -> None:
    broken = []
    for target in _LINK.findall(document.read_text(encoding="utf-8")):
        if target.startswith("#") or _LOCAL.match(target):
            continue  # an anchor of the same page, or the running stack
        if re.match(r"^[a-z]+:", target):
            broken.append(target)  # outside the repository: the text must say it instead
            continue
        path = (document.parent / target.split("#")[0]).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    assert broken == []


def test_the_architecture_is_kept_in_the_repository() -> None:
    architecture = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert "`tickets/catalogue`" in architecture
    assert "](docs/ARCHITECTURE.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
