"""What `ticketing run` gives each server in its environment, without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticketing.stack import StackEnv, services


def fingerprint_key_in(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The payment server's PAYMENT_FINGERPRINT_KEY when `ticketing run` starts in ``workdir``."""
    workdir.mkdir(exist_ok=True)
    monkeypatch.chdir(workdir)
    [payment] = [s for s in services() if s.module == "servers.payment"]
    return payment.env(StackEnv.for_dev("postgresql://127.0.0.1/ticketing", "http://idp"))[
        "PAYMENT_FINGERPRINT_KEY"
    ]


def test_the_payment_server_keeps_its_card_fingerprint_key_across_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Derived from the working directory's local key: with a random key per start, a card
    saved before a restart would look new after it, and be saved twice."""
    first = fingerprint_key_in(tmp_path / "one", monkeypatch)
    assert len(first) >= 32
    assert fingerprint_key_in(tmp_path / "one", monkeypatch) == first
    assert fingerprint_key_in(tmp_path / "two", monkeypatch) != first, "each checkout its own"
