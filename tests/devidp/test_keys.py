from __future__ import annotations

import base64
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from servers.devidp import keys
from servers.devidp.keys import (
    KEY_FILE_NAME,
    SigningKey,
    load_or_create_signing_key,
    rsa_jwk_thumbprint,
)


def _b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def test_thumbprint_matches_rfc_7638_example() -> None:
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS"
        "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65"
        "YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyr"
        "dkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzK"
        "nqDKgw"
    )
    thumbprint = rsa_jwk_thumbprint(n=_b64url_int(n), e=_b64url_int("AQAB"))
    assert thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_key_is_created_private_and_persists(tmp_path: Path) -> None:
    key_dir = tmp_path / "nested" / "idp"
    first = load_or_create_signing_key(key_dir)
    path = key_dir / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.private_key.key_size == 2048
    second = load_or_create_signing_key(key_dir)
    assert second.kid == first.kid
    assert [p.name for p in key_dir.iterdir()] == [KEY_FILE_NAME]


def test_jwks_publishes_the_public_key(signing_key: SigningKey) -> None:
    (jwk,) = signing_key.jwks()["keys"]
    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["alg"], jwk["use"], jwk["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert jwk["kid"] == signing_key.kid
    public = signing_key.private_key.public_key().public_numbers()
    assert _b64url_int(jwk["n"]) == public.n


def test_concurrent_first_use_yields_one_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both callers must have generated a key before either writes it, or there is no race.
    barrier = threading.Barrier(2, timeout=60)
    generated: list[str] = []
    original = keys._generate_private_key

    def generate_then_wait() -> rsa.RSAPrivateKey:
        private_key = original()
        generated.append(SigningKey.from_private_key(private_key).kid)
        barrier.wait()
        return private_key

    monkeypatch.setattr(keys, "_generate_private_key", generate_then_wait)
    key_dir = tmp_path / "idp"
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(load_or_create_signing_key, key_dir) for _ in range(2)]
        kids = {future.result().kid for future in futures}

    assert len(set(generated)) == 2
    assert len(kids) == 1
    assert kids <= set(generated)
    monkeypatch.setattr(keys, "_generate_private_key", original)
    assert load_or_create_signing_key(key_dir).kid in kids
    assert [p.name for p in key_dir.iterdir()] == [KEY_FILE_NAME]


def test_derived_secrets_are_stable_and_distinct(signing_key: SigningKey, tmp_path: Path) -> None:
    assert signing_key.derive_secret("a") == signing_key.derive_secret("a")
    assert signing_key.derive_secret("a") != signing_key.derive_secret("b")
    other = load_or_create_signing_key(tmp_path)
    assert other.derive_secret("a") != signing_key.derive_secret("a")
