"""Ids and the pattern every model checks them against come from one module and agree."""

from __future__ import annotations

import re

import pytest

from servers.core.ids import id_pattern, new_id
from servers.data.seed import seed_id


@pytest.mark.parametrize("prefix", ["cus", "ord", "pi", "evt", "msg", "pm"])
def test_every_new_id_matches_its_pattern(prefix: str) -> None:
    pattern = re.compile(id_pattern(prefix))
    assert all(pattern.fullmatch(new_id(prefix)) for _ in range(200))
    assert pattern.fullmatch(seed_id(prefix, "someone@example.com")), "seeded ids look alike"


def test_the_pattern_refuses_near_misses() -> None:
    good = new_id("ord")
    pattern = re.compile(id_pattern("ord"))
    for bad in ("cus" + good[3:], good[:-1], good + "a", good.upper(), good + "\n", " " + good):
        assert pattern.fullmatch(bad) is None, bad
