"""The persistent RSA signing key, its RFC 7638 ``kid`` and the JWKS that publishes it."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_FILE_NAME = "signing-key.pem"
KEY_SIZE = 2048
ALGORITHM = "RS256"


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def rsa_jwk_thumbprint(*, n: int, e: int) -> str:
    """RFC 7638 thumbprint of an RSA public key: SHA-256 over the canonical JWK, base64url."""
    # Required members only, in lexicographic order, no whitespace.
    canonical = json.dumps(
        {"e": _b64url_uint(e), "kty": "RSA", "n": _b64url_uint(n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True)
class SigningKey:
    """An RSA private key with its JWK thumbprint as ``kid``."""

    private_key: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def from_private_key(cls, private_key: rsa.RSAPrivateKey) -> SigningKey:
        numbers = private_key.public_key().public_numbers()
        return cls(private_key=private_key, kid=rsa_jwk_thumbprint(n=numbers.n, e=numbers.e))

    def public_jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set served at ``/.well-known/jwks.json``."""
        return {"keys": [self.public_jwk()]}

    def derive_secret(self, label: str) -> str:
        """A stable secret for ``label``, known only to holders of this key."""
        key_bytes = self.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return b64url(hmac.new(key_bytes, label.encode("utf-8"), hashlib.sha256).digest())


def _generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def _read_key(path: Path) -> SigningKey:
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return SigningKey.from_private_key(loaded)


def load_or_create_signing_key(key_dir: Path) -> SigningKey:
    """Load ``key_dir/signing-key.pem``, creating it (mode 0600) on first use.

    Safe when several processes start at once: each writes a private temporary file and
    hard-links it into place, which fails rather than overwrites when another process got there
    first; everyone then reads the one file that won.
    """
    path = key_dir / KEY_FILE_NAME
    if path.exists():
        return _read_key(path)

    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = _generate_private_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = key_dir / f".{KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        # Another process linked its key first: theirs is the one everybody uses.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)
