"""Single-use authorization codes, kept in memory for five minutes."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from servers.devidp.users import Customer

CODE_TTL_SECONDS = 300


@dataclass(frozen=True)
class CodeGrant:
    """What an authorization code stands for."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    scopes: tuple[str, ...]
    customer: Customer
    auth_time: int
    nonce: str | None


class CodeStore:
    def __init__(self, clock: Callable[[], float], ttl_seconds: int = CODE_TTL_SECONDS) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._codes: dict[str, tuple[float, CodeGrant]] = {}

    def issue(self, grant: CodeGrant) -> str:
        now = self._clock()
        self._codes = {c: entry for c, entry in self._codes.items() if entry[0] > now}
        code = secrets.token_urlsafe(32)
        self._codes[code] = (now + self._ttl, grant)
        return code

    def redeem(self, code: str) -> CodeGrant | None:
        """The grant, once: any attempt consumes the code, so a verifier cannot be guessed."""
        entry = self._codes.pop(code, None)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]
