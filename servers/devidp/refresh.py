"""Refresh tokens: rotated on every use, with reuse detection (OAuth 2.1 §4.3.1, RFC 9700 §4.14).

Each sign-in starts a *family*. Redeeming a refresh token retires it and issues the next one of
the same family. A retired token presented again means that two parties hold the family (the
client and a thief, in some order), so the whole family is revoked and both must sign in again.

Tokens are opaque random strings; only their SHA-256 is kept, in memory: a provider restart
signs everyone out, which is what a dev provider may do.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from servers.devidp.users import Customer

MAX_FAMILIES = 10_000

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshGrant:
    """What a refresh token stands for: a customer's sign-in at one client."""

    client_id: str
    customer: Customer
    scopes: tuple[str, ...]
    auth_time: int


class RefreshError(Exception):
    """The refresh token cannot be used; the message is the ``error_description``."""


@dataclass
class _Family:
    grant: RefreshGrant
    current: str  # digest of the one token that may be redeemed
    retired: set[str] = field(default_factory=set)
    expires_at: float = 0.0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class RefreshTokenStore:
    def __init__(
        self,
        clock: Callable[[], float],
        ttl_seconds: int,
        *,
        max_families: int = MAX_FAMILIES,
    ) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._max_families = max_families
        self._families: dict[str, _Family] = {}
        self._family_of: dict[str, str] = {}  # token digest -> family id

    def issue(self, grant: RefreshGrant) -> str:
        """The first refresh token of a new family."""
        self._prune()
        family_id = secrets.token_hex(16)
        token = secrets.token_urlsafe(32)
        digest = _digest(token)
        self._families[family_id] = _Family(
            grant=grant, current=digest, expires_at=self._clock() + self._ttl
        )
        self._family_of[digest] = family_id
        return token

    def peek(self, token: str) -> RefreshGrant | None:
        """The grant behind a live token, changing nothing."""
        family_id = self._family_of.get(_digest(token))
        family = self._families.get(family_id) if family_id is not None else None
        return None if family is None or family.expires_at <= self._clock() else family.grant

    def rotate(self, token: str, client_id: str) -> tuple[RefreshGrant, str]:
        """The grant behind ``token`` and the token that replaces it; RefreshError if refused."""
        digest = _digest(token)
        family_id = self._family_of.get(digest)
        family = self._families.get(family_id) if family_id is not None else None
        if family_id is None or family is None or family.expires_at <= self._clock():
            raise RefreshError("the refresh token is unknown, expired or revoked")
        if family.grant.client_id != client_id:
            # Not revoked: a client cannot sign another one out by guessing its tokens.
            raise RefreshError("the refresh token was issued to another client")
        if digest in family.retired:
            self._drop(family_id)
            logger.warning(
                "refresh token reused for %s at %s: every token of that sign-in revoked",
                family.grant.customer.email,
                client_id,
            )
            raise RefreshError(
                "the refresh token was already used, so every token of this sign-in is revoked; "
                "sign in again"
            )
        new_token = secrets.token_urlsafe(32)
        new_digest = _digest(new_token)
        family.retired.add(digest)
        family.current = new_digest
        family.expires_at = self._clock() + self._ttl
        self._family_of[new_digest] = family_id
        return family.grant, new_token

    def revoke(self, token: str, client_id: str) -> bool:
        """Revoke the family of ``token`` if it belongs to ``client_id`` (RFC 7009 §2.1)."""
        family_id = self._family_of.get(_digest(token))
        family = self._families.get(family_id) if family_id is not None else None
        if family_id is None or family is None or family.grant.client_id != client_id:
            return False
        self._drop(family_id)
        return True

    def _drop(self, family_id: str) -> None:
        family = self._families.pop(family_id)
        for digest in (family.current, *family.retired):
            self._family_of.pop(digest, None)

    def _prune(self) -> None:
        now = self._clock()
        for family_id in [f for f, family in self._families.items() if family.expires_at <= now]:
            self._drop(family_id)
        # Oldest sign-ins go first when the bound is reached (dicts keep insertion order).
        while len(self._families) >= self._max_families:
            self._drop(next(iter(self._families)))
