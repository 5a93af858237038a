"""The JWT attack corpus as named tokens, for the unit, HTTP and timing checks alike."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from joserfc.jwk import ECKey, Key, OctKey, RSAKey
from joserfc.jws import JWSRegistry

from .helpers import b64, b64json, claims, hand_hs256, sign

__all__ = ["attack_tokens", "valid_tokens"]

ODD_KIDS = {
    "kid-path-traversal": "../../../../dev/null",
    "kid-quotes": "rsa-1' OR '1'='1\"",
    "kid-very-long": "k" * 4000,
    "kid-nul": "rsa-1\x00",
}


def _body(issuer: str, audience: str, now: int, **overrides: Any) -> dict[str, Any]:
    return claims(**{"iss": issuer, "aud": audience, "iat": now, "exp": now + 3600, **overrides})


def _unsigned(alg: str, body: dict[str, Any], signature: str) -> str:
    return f"{b64json({'alg': alg})}.{b64json(body)}.{signature}"


def _es256_with_header(key: Key, body: dict[str, Any], **header: Any) -> str:
    signing_input = f"{b64json({'alg': 'ES256', 'kid': 'ec-1', **header})}.{b64json(body)}"
    signature = JWSRegistry.algorithms["ES256"].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(signature)}"


def attack_tokens(
    *,
    secret: bytes,
    issuer: str,
    audience: str,
    keys: dict[str, Key],
    removed: Key,
    now: int,
) -> dict[str, str]:
    """Return every attack of the corpus by name; each must be refused with a 401."""
    body = _body(issuer, audience, now)
    rsa = keys["RS256"]
    assert isinstance(rsa, RSAKey)
    attacker = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
    tokens: dict[str, str] = {}
    for alg in ("none", "None", "NONE", "nOnE"):
        tokens[f"alg-{alg}-empty-signature"] = _unsigned(alg, body, "")[:-1] + "."
        tokens[f"alg-{alg}-some-signature"] = _unsigned(alg, body, "c2ln")
    tokens["hs256-signed-with-rs256-public-pem"] = hand_hs256(
        {"alg": "HS256", "kid": rsa.kid}, body, rsa.as_pem(private=False)
    )
    header = b64json({"alg": "RS256", "kid": rsa.kid})
    mac = hmac.new(secret, f"{header}.{b64json(body)}".encode(), hashlib.sha256).digest()
    tokens["rs256-header-hmac-signature"] = f"{header}.{b64json(body)}.{b64(mac)}"
    tokens["unknown-kid"] = sign(rsa, "RS256", body, kid="rsa-404")
    for name, kid in ODD_KIDS.items():
        tokens[name] = sign(rsa, "RS256", body, kid=kid)
        # A kid read as a file path would pick an empty key: sign with one.
        tokens[f"{name}-hs256-empty-key"] = hand_hs256({"alg": "HS256", "kid": kid}, body, b"")
    tokens["header-jwk"] = _es256_with_header(attacker, body, jwk=attacker.as_dict(private=False))
    tokens["header-jku"] = _es256_with_header(attacker, body, jku="https://evil.example/jwks")
    tokens["header-x5u"] = _es256_with_header(attacker, body, x5u="https://evil.example/c.pem")
    tokens["header-x5c"] = _es256_with_header(attacker, body, x5c=["MIIB"])
    tokens["header-jwk-honest-signature"] = _es256_with_header(
        keys["ES256"], body, jwk=keys["ES256"].as_dict(private=False)
    )
    tokens["crit-unknown"] = hand_hs256(
        {"alg": "HS256", "crit": ["urn:example:must-know"], "urn:example:must-know": 1},
        body,
        secret,
    )
    tokens["crit-b64"] = hand_hs256({"alg": "HS256", "crit": ["b64"], "b64": False}, body, secret)
    hs = OctKey.import_key(secret)
    timed = {
        "expired": {"exp": now - 3600, "iat": now - 7200},
        "nbf-future": {"nbf": now + 3600},
        "iat-future": {"iat": now + 3600},
        "wrong-iss": {"iss": "https://evil.example"},
        "aud-missing-ours": {"aud": ["someone-else", "another"]},
        "aud-absent": {"aud": None},
        "sub-missing": {"sub": None},
        "exp-missing": {"exp": None},
        "sub-number": {"sub": 42},
        "sub-object": {"sub": {"id": "u_ada"}},
        "exp-string": {"exp": "tomorrow"},
        "exp-list": {"exp": [now + 3600]},
        "exp-huge": {"exp": 10**400},
    }
    for name, overrides in timed.items():
        tokens[name] = sign(hs, "HS256", _body(issuer, audience, now, **overrides))
    header_part, _payload, signature = sign(hs, "HS256", body).split(".")
    admin = _body(issuer, audience, now, tenants={"t_acme": ["admin"], "t_globex": ["admin"]})
    tokens["tampered-payload"] = f"{header_part}.{b64json(admin)}.{signature}"
    tokens["over-8-kib"] = sign(hs, "HS256", _body(issuer, audience, now, pad="x" * 8300))
    tokens["signed-by-removed-jwks-key"] = sign(removed, "RS256", body)
    return tokens


def valid_tokens(
    *, secret: bytes, issuer: str, audience: str, keys: dict[str, Key], now: int
) -> dict[str, str]:
    """Return one valid token per configured algorithm."""
    body = _body(issuer, audience, now)
    return {
        "HS256": sign(OctKey.import_key(secret), "HS256", body),
        "RS256": sign(keys["RS256"], "RS256", body),
        "ES256": sign(keys["ES256"], "ES256", body),
    }
