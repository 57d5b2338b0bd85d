"""mypy reads only the aws-cdk-lib modules the app imports (pyproject.toml's overrides); every
other one is Any to it. So the list must name exactly the modules imported here: a module
missing from it would be used unchecked, a module no longer imported would be read for nothing."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

INFRA = Path(__file__).resolve().parents[1]
CHECKED = ("ticketing_infra", "tests")


def imported_cdk_modules() -> set[str]:
    """``aws_cdk`` and each of its modules that the app or its tests import."""
    found: set[str] = set()
    for path in (p for folder in CHECKED for p in (INFRA / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            found.update(_cdk_modules_of(node))
    return found


def _cdk_modules_of(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names if a.name.split(".")[0] == "aws_cdk")
    elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "aws_cdk":
        yield node.module or ""
        if node.module == "aws_cdk":
            # `from aws_cdk import aws_iam` imports a module; `from aws_cdk import Stack` a name.
            yield from (f"aws_cdk.{a.name}" for a in node.names if a.name[:1].islower())


def read_by_mypy() -> set[str]:
    config = tomllib.loads((INFRA / "pyproject.toml").read_text())
    return {
        module
        for override in config["tool"]["mypy"]["overrides"]
        if override.get("follow_imports") == "normal"
        for module in override["module"]
    }


def test_mypy_reads_exactly_the_cdk_modules_the_app_imports() -> None:
    assert imported_cdk_modules() == read_by_mypy()
