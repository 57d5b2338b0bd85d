"""The READMEs' generated tables match the code."""

from __future__ import annotations

import pytest

# Imported on purpose, as a whole test run does: the host's settings share the servers' base
# class, and the tables once listed every subclass that happened to be loaded.
import host.settings  # noqa: F401
from ticketing.docs import README, generate_blocks, render, stale_documents


async def test_generated_tables_are_up_to_date() -> None:
    assert stale_documents(await generate_blocks(), write=False) == [], "run `make docs`"


async def test_every_data_tool_is_in_the_readme() -> None:
    blocks = await generate_blocks()
    readme = README.read_text(encoding="utf-8")
    for line in blocks["tools:data"].splitlines()[2:]:
        assert line in readme


def test_render_replaces_only_the_block() -> None:
    document = "before\n<!-- BEGIN config -->\nold\n<!-- END config -->\nafter\n"
    assert render(document, {"config": "new"}) == (
        "before\n<!-- BEGIN config -->\nnew\n<!-- END config -->\nafter\n"
    )


def test_render_refuses_a_readme_without_the_block() -> None:
    with pytest.raises(ValueError, match="no block"):
        render("# nothing here\n", {"tools:data": "x"})
