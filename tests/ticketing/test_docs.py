"""README.md's generated tables match the code."""

from __future__ import annotations

import pytest

from ticketing.docs import README, generate_blocks, render


async def test_readme_tables_are_up_to_date() -> None:
    current = README.read_text(encoding="utf-8")
    assert render(current, await generate_blocks()) == current, "run `make docs`"


async def test_every_data_tool_is_in_the_readme() -> None:
    blocks = await generate_blocks()
    readme = README.read_text(encoding="utf-8")
    for line in blocks["tools:data"].splitlines()[2:]:
        assert line in readme


def test_render_refuses_a_readme_without_the_block() -> None:
    with pytest.raises(ValueError, match="no block"):
        render("# nothing here\n", {"tools:data": "x"})
