"""Argument types every server's tools share: strict, so that what a caller sends is what it
meant (``true`` is not one cent, ``"0"`` is not 1 January 1970)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BeforeValidator, Field, StringConstraints

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date_only(value: object) -> object:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]
"""A calendar date, written ``YYYY-MM-DD`` on the wire."""

Cents = Annotated[int, Field(strict=True, ge=0, le=100_000_000)]
"""An amount of money in minor units (cents), never a float."""

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 currency code such as ``USD``."""

IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{8,128}$")]
"""A caller-chosen key per intended write; retries with the same key return the first result."""

StrictInt = Annotated[int, Field(strict=True)]
