"""pass^k over repeated runs (as tau-bench reports it): the chance that k runs of a scenario,
drawn from the n made, all pass, C(c, k) / C(n, k) for c passes, averaged over scenarios.
pass^1 is the plain pass rate; pass^4 rewards a concierge that gets it right every time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import comb


def pass_hat(results: Mapping[str, Sequence[bool]], k: int) -> float:
    """pass^k over scenarios' run results; each scenario needs at least k runs."""
    rates = []
    for name, runs in results.items():
        if len(runs) < k:
            raise ValueError(f"{name} has {len(runs)} runs, fewer than k={k}")
        rates.append(comb(sum(runs), k) / comb(len(runs), k))
    return sum(rates) / len(rates) if rates else 0.0
