"""Where the host finds the built web app: a module of its own so that the settings class can
be imported without the web framework (the CDK app, infra/, reads it in its own venv)."""

from __future__ import annotations

from pathlib import Path

DIST = Path(__file__).resolve().parent.parent / "web" / "dist"  # where `make web` builds it
