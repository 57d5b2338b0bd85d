"""The venue knowledge file (``venue.toml``), loaded and filled in with the figures this server
enforces.

The file is data the operator edits; its figures come from the rules and settings through
``{{ placeholder }}``s, so that the texts cannot state a cut-off, a hold or a window other than
the one the server applies. A placeholder the server does not know stops the load: a text with
a hole in it is never served.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from ..rules import (
    BASE_PRICES,
    CATALOGUE,
    CURRENCY,
    DEFAULT_CALENDAR_DAYS,
    MAX_CALENDAR_DAYS,
    UPGRADE_CUTOFF,
    VISIT_STARTS_AT,
)
from .hours import SupportHours

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_URI = re.compile(r"^help://[a-z0-9-]+(/[a-z0-9-]+)*$")


class HelpTextError(ValueError):
    """The knowledge file is malformed or names a placeholder the server does not fill."""


@dataclass(frozen=True)
class Topic:
    uri: str
    title: str
    keywords: tuple[str, ...]
    body: str

    @property
    def markdown(self) -> str:
        return f"# {self.title}\n\n{self.body}\n"


@dataclass(frozen=True)
class HelpLibrary:
    version: str
    topics: tuple[Topic, ...]


def raw_file() -> str:
    """The knowledge file as the operator wrote it."""
    return files(__package__).joinpath("venue.toml").read_text(encoding="utf-8")


def facts(*, hold_minutes: int, support: SupportHours, support_email: str) -> dict[str, str]:
    """Every placeholder's value: the figures the rules and settings enforce."""
    return {
        "cutoff_hours": str(int(UPGRADE_CUTOFF.total_seconds() // 3600)),
        "visit_starts_at": f"{VISIT_STARTS_AT:%H:%M}",
        "hold_minutes": str(hold_minutes),
        "calendar_days": str(DEFAULT_CALENDAR_DAYS),
        "max_calendar_days": str(MAX_CALENDAR_DAYS),
        "venue_tz": support.venue_tz.key,
        "tier_list": tier_list(),
        "support_hours": support.describe(),
        "support_response_hours": str(support.response_hours),
        "support_email": support_email,
    }


def tier_list() -> str:
    """Each tier with what it includes and its base price from each ticket type."""
    lines = []
    for info in CATALOGUE.values():
        prices = ", ".join(
            f"from {kind} ${cents // 100}.{cents % 100:02d}"
            for kind, tiers in BASE_PRICES.items()
            if (cents := tiers.get(info.tier)) is not None
        )
        lines.append(
            f"- **{info.name}**: {info.description} Includes: {', '.join(info.includes)}. "
            f"Base price ({CURRENCY}): {prices}."
        )
    return "\n".join(lines)


def load_library(values: dict[str, str], source: str | None = None) -> HelpLibrary:
    """The topics of the knowledge file (``source``, default the packaged one), filled in."""
    try:
        document = tomllib.loads(raw_file() if source is None else source)
    except tomllib.TOMLDecodeError as exc:
        raise HelpTextError(f"venue.toml is not valid TOML: {exc}") from None
    version = document.get("version")
    if not isinstance(version, str) or not version:
        raise HelpTextError("venue.toml needs a version string")
    topics = [_topic(entry, values) for entry in document.get("topics", [])]
    if not topics:
        raise HelpTextError("venue.toml has no topics")
    uris = [t.uri for t in topics]
    if len(set(uris)) != len(uris):
        raise HelpTextError(f"venue.toml repeats a topic uri: {sorted(uris)}")
    return HelpLibrary(version=version, topics=tuple(topics))


def _topic(entry: Any, values: dict[str, str]) -> Topic:
    if not isinstance(entry, dict):
        raise HelpTextError("each [[topics]] entry must be a table")
    uri, title, body = entry.get("uri"), entry.get("title"), entry.get("body")
    keywords = entry.get("keywords", [])
    if not (isinstance(uri, str) and _URI.match(uri)):
        raise HelpTextError(f"topic uri {uri!r} must look like help://policies/refunds")
    if not (isinstance(title, str) and title and isinstance(body, str) and body.strip()):
        raise HelpTextError(f"topic {uri} needs a title and a body")
    if not (isinstance(keywords, list) and all(isinstance(k, str) for k in keywords)):
        raise HelpTextError(f"topic {uri}: keywords must be a list of strings")
    return Topic(uri=uri, title=title, keywords=tuple(keywords), body=fill(body, values, uri))


def fill(text: str, values: dict[str, str], where: str) -> str:
    """``text`` with every placeholder replaced; an unknown one is a :class:`HelpTextError`."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name not in values:
            raise HelpTextError(f"{where}: unknown placeholder {{{{ {name} }}}}")
        return values[name]

    filled = PLACEHOLDER.sub(value, text).strip()
    if "{{" in filled or "}}" in filled:
        raise HelpTextError(f"{where}: a placeholder is not written {{{{ name }}}}")
    return filled
