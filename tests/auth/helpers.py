"""Build tokens for the auth tests: well-formed, hand-made, and hostile."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, Key, KeySet, OctKey, OKPKey, RSAKey

ISSUER = "https://idp.example"
AUDIENCE = "chat-core"
SECRET = b"s" * 40
NOW = 1_800_000_000


def claims(**overrides: Any) -> dict[str, Any]:
    """Return a valid claim set at NOW, with overrides; a None override drops the claim."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u_ada",
        "iat": NOW,
        "exp": NOW + 3600,
        "tenants": {"t_acme": ["member"], "t_globex": ["member", "admin"]},
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def b64(raw: bytes) -> str:
    """Encode bytes as unpadded base64url."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64json(value: object) -> str:
    """Encode a JSON value as unpadded base64url."""
    return b64(json.dumps(value, separators=(",", ":")).encode())


def hand_hs256(header: dict[str, Any], body: dict[str, Any], secret: bytes = SECRET) -> str:
    """Sign with HMAC-SHA256 by hand, so no library vets the header or the key."""
    signing_input = f"{b64json(header)}.{b64json(body)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def sign(key: Key, alg: str, body: dict[str, Any], **header: Any) -> str:
    """Sign body with key and alg through joserfc, adding the key's kid unless given."""
    if "kid" not in header and key.kid is not None:
        header["kid"] = key.kid
    header = {name: value for name, value in header.items() if value is not None}
    return jwt.encode({"alg": alg, **header}, body, key, algorithms=[alg])


def private_keys() -> dict[str, Key]:
    """Make one private key per asymmetric algorithm family, each with a kid."""
    return {
        "RS256": RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}),
        "ES256": ECKey.generate_key("P-256", parameters={"kid": "ec-1"}),
        "EdDSA": OKPKey.generate_key("Ed25519", parameters={"kid": "ed-1"}),
    }


def public_jwks(keys: dict[str, Key]) -> dict[str, Any]:
    """Return the public JWKS dict for the given keys."""
    return dict(KeySet(list(keys.values())).as_dict(private=False))


def sign_hs(body: dict[str, Any], secret: bytes = SECRET, **header: Any) -> str:
    """Sign body with HS256 and the secret through joserfc."""
    return sign(OctKey.import_key(secret), "HS256", body, **header)
