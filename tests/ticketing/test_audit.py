"""``make audit`` reads the pins from pyproject.toml and compares them with the index's listing."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib

from ticketing.audit import PIN, PYPROJECT, ROOT, Behind, behind, normalize, pins


def test_pins_are_read_from_dependencies_and_groups_with_extras_and_any_spelling() -> None:
    pyproject = {
        "project": {"dependencies": ["psycopg[binary,pool]==3.3.9", "Python_JSON.Logger==4.2.0"]},
        "dependency-groups": {"dev": ["pytest==9.2.0", "unpinned>=1"]},
    }
    assert pins(pyproject) == {
        "psycopg": "3.3.9",
        "python-json-logger": "4.2.0",
        "pytest": "9.2.0",
    }


def test_only_the_projects_own_pins_that_are_behind_are_reported() -> None:
    listing = [
        {"name": "uvicorn", "version": "0.54.0", "latest_version": "0.55.0"},
        {"name": "multidict", "version": "6.9.1", "latest_version": "7.2.1"},  # indirect
        {"name": "ticketing", "version": "0.1.0", "latest_version": "0.3.0"},  # another project
        {"name": "Mcp_Types", "version": "2.3.0", "latest_version": "2.4.0"},
    ]
    assert behind({"uvicorn": "0.54.0", "mcp-types": "2.3.0"}, listing) == [
        Behind("mcp-types", "2.3.0", "2.4.0"),
        Behind("uvicorn", "0.54.0", "0.55.0"),
    ]


def test_every_dependency_of_the_project_is_pinned() -> None:
    pyproject = tomllib.loads(PYPROJECT.read_text())
    declared = pyproject["project"]["dependencies"] + pyproject["dependency-groups"]["dev"]
    assert len(pins(pyproject)) == len(declared)


def test_every_package_the_code_imports_is_declared() -> None:
    # Relying on another package's requirements breaks when that package drops or renames one.
    pyproject = tomllib.loads(PYPROJECT.read_text())
    declared = set(pins(pyproject))
    # A meta-package (fastmcp) pins the distribution that holds its code (fastmcp-slim) exactly.
    for name in list(declared):
        for requirement in importlib.metadata.requires(name) or []:
            match = PIN.match(requirement)
            if match and ";" not in requirement:
                declared.add(normalize(match[1]))
    distributions = importlib.metadata.packages_distributions()
    local = {"servers", "ticketing", "tests", "bench", "host"}
    undeclared: dict[str, set[str]] = {}
    for directory in ("servers", "ticketing", "bench"):
        for path in (PYPROJECT.parent / directory).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in sys.stdlib_module_names or top in local:
                        continue
                    providers = {normalize(d) for d in distributions.get(top, [top])}
                    if not providers & declared:
                        undeclared.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    assert undeclared == {}
