"""``make audit``: which of pyproject.toml's pins the package registry has newer versions of.

``python -m ticketing.audit`` asks the configured package index, through ``uv pip list
--outdated``, for the newest version of every package installed in this environment, and
reports the project's own pins (its dependencies and dev dependencies) that are behind. It exits
1 when any is, 0 when every pin is the newest, 2 when the index cannot be asked.

It is no vulnerability scan: the known-vulnerabilities services (the one ``pip-audit`` uses, per
release on PyPI, and OSV) cannot be reached from the development machines, and the registry's
project pages list vulnerabilities of the newest release only. Keeping every pin at the newest
release is what can be checked here; it takes the fixes that upstream has published.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"

PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^;\s]+)")


@dataclass(frozen=True)
class Behind:
    name: str
    pinned: str
    latest: str


def normalize(name: str) -> str:
    """The registry's form of a package name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(pyproject: Mapping[str, object]) -> dict[str, str]:
    """Every ``name==version`` of the project's dependencies and dependency groups."""
    project = pyproject.get("project", {})
    groups = pyproject.get("dependency-groups", {})
    requirements: list[str] = []
    if isinstance(project, Mapping):
        requirements += [r for r in project.get("dependencies", []) if isinstance(r, str)]
    if isinstance(groups, Mapping):
        for group in groups.values():
            requirements += [r for r in group if isinstance(r, str)]
    found: dict[str, str] = {}
    for requirement in requirements:
        match = PIN.match(requirement)
        if match:
            found[normalize(match[1])] = match[2]
    return found


def behind(pinned: Mapping[str, str], outdated: Iterable[Mapping[str, str]]) -> list[Behind]:
    """The pins that ``uv pip list --outdated --format json`` reports a newer version of."""
    result = []
    for entry in outdated:
        name = normalize(entry["name"])
        if name in pinned:
            result.append(Behind(name, pinned[name], entry["latest_version"]))
    return sorted(result, key=lambda b: b.name)


def _outdated_listing() -> list[dict[str, str]]:
    uv = Path(sys.executable).with_name("uv")
    completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [str(uv), "pip", "list", "--outdated", "--format", "json", "--python", sys.executable],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr.strip() or f"uv exited with {completed.returncode}")
    listing: list[dict[str, str]] = json.loads(completed.stdout or "[]")
    return listing


def main() -> int:
    pinned = pins(tomllib.loads(PYPROJECT.read_text()))
    try:
        listing = _outdated_listing()
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"UNAVAILABLE: cannot ask the package index for new versions: {exc}", file=sys.stderr)
        return 2
    late = behind(pinned, listing)
    for item in late:
        print(f"{item.name:<24} pinned {item.pinned:<12} newest {item.latest}")
    print(f"{len(late)} of {len(pinned)} pins have a newer release on the package index")
    return 1 if late else 0


if __name__ == "__main__":
    sys.exit(main())
