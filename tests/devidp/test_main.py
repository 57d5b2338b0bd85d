from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from servers.devidp.__main__ import REFUSAL


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DEV_MODE" and not k.startswith("IDP_") and k != "DATABASE_URL"
    }
    return {**env, **extra}


def _run(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # cwd is a scratch directory so that no .env file can switch dev mode on.
    return subprocess.run(
        [sys.executable, "-m", "servers.devidp"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_refuses_to_start_without_dev_mode(tmp_path: Path) -> None:
    result = _run(tmp_path, _env())
    assert result.returncode == 2
    assert REFUSAL in result.stderr
    assert "it only runs with DEV_MODE=1. In AWS use Amazon Cognito." in result.stderr
    assert not (tmp_path / ".dev").exists()


def test_refuses_with_dev_mode_off_and_prefixed_variable(tmp_path: Path) -> None:
    result = _run(tmp_path, _env(DEV_MODE="0", IDP_DEV_MODE="1"))
    assert result.returncode == 2
    assert REFUSAL in result.stderr


def test_invalid_settings_exit_2_before_binding(tmp_path: Path) -> None:
    result = _run(tmp_path, _env(DEV_MODE="1", IDP_PORT="70000"))
    assert result.returncode == 2
    assert "port" in result.stderr
    assert "Invalid dev identity provider settings" in result.stderr
