"""Every scenario file parses and is well-formed, and together they cover what the issue asks
for: at least 25 customer scenarios over every kind. No stack: this runs in a blink."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from pydantic import ValidationError

from tests.scenarios.rates import pass_hat
from tests.scenarios.spec import CASES, DATE, KINDS, PLACEHOLDER, Scenario, fill, load, load_all


def test_every_scenario_file_is_well_formed() -> None:
    paths = sorted(CASES.glob("*.toml"))
    assert len(paths) >= 25
    for path in paths:
        load(path)  # raises, naming the file's first problem


def test_the_scenarios_cover_every_kind() -> None:
    kinds = Counter(s.kind for s in load_all().values())
    assert set(kinds) == set(KINDS)
    titles = [s.title for s in load_all().values()]
    assert len(set(titles)) == len(titles)


def test_a_sold_out_date_is_no_other_scenarios_booking() -> None:
    """Runs share one stack: a date a scenario sells out must not be one another scenario
    expects to book in that tier."""
    scenarios = load_all()
    for name, scenario in scenarios.items():
        for sold_out in scenario.setup.sold_out:
            for other_name, other in scenarios.items():
                if other_name == name or sold_out.date == "{visit}":
                    continue
                booked = {(o.tier, o.date) for o in other.expect.orders}
                if other.setup.upgraded is not None:
                    booked.add((other.setup.upgraded.tier, other.setup.upgraded.date))
                assert (sold_out.tier, sold_out.date) not in booked, (name, other_name)


def scenario(**changes: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "title": "t",
        "kind": "plain_upgrade",
        "turns": [{"say": "Upgrade {ticket} on {date+3}"}],
        "expect": {"orders": [], "ticket_tier": "none"},
    }
    raw.update(changes)
    return raw


@pytest.mark.parametrize(
    "broken",
    [
        scenario(kind="chit_chat"),
        scenario(turns=[]),
        scenario(turns=[{"say": "Upgrade {other_ticket}"}]),  # no other customer set up
        scenario(turns=[{"say": "On {date+200}"}]),
        scenario(turns=[{"say": "hi", "confirm": "maybe"}]),
        scenario(expect={"orders": [], "ticket_tier": "vip"}),
        scenario(
            expect={
                "orders": [{"tier": "standard", "status": "paid", "date": "{visit}"}],
                "ticket_tier": "none",
            }
        ),
        scenario(
            expect={
                "orders": [{"tier": "standard", "status": "confirmed", "date": "2026-12-01"}],
                "ticket_tier": "none",
            }
        ),
        scenario(expect={"orders": [], "ticket_tier": "none", "wording": "Sorry"}),
    ],
)
def test_the_schema_refuses_a_broken_scenario(broken: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Scenario.model_validate(broken)


def test_placeholders_are_filled_from_the_world() -> None:
    text = "Move {ticket} from {visit} to {date+3}"
    assert PLACEHOLDER.findall(text) == ["ticket", "visit", "date+3"]
    assert DATE.fullmatch("date+3")
    filled = fill(text, {"ticket": "TKT-AB12", "visit": "2027-01-02"}, date(2027, 1, 1))
    assert filled == "Move TKT-AB12 from 2027-01-02 to 2027-01-04"


def test_pass_hat_k() -> None:
    results = {"always": [True] * 4, "half": [True, False, True, False], "never": [False] * 4}
    assert pass_hat(results, 1) == pytest.approx(0.5)
    assert pass_hat(results, 4) == pytest.approx(1 / 3)
    assert pass_hat({"half": [True, True, False, False]}, 2) == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="fewer than k=4"):
        pass_hat({"short": [True]}, 4)
