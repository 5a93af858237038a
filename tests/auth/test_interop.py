"""Tokens minted by PyJWT, another JWT library, are accepted when valid and refused when not."""

from __future__ import annotations

import time
from typing import Any

import jwt as pyjwt
import pytest
from joserfc.jwk import ECKey, Key, RSAKey

from chat_core.tokens import InvalidToken, TokenSettings, TokenVerifier, mint_token

from .helpers import AUDIENCE, ISSUER, NOW, SECRET, claims, public_jwks


@pytest.fixture
def verifier(keys: dict[str, Key]) -> TokenVerifier:
    return TokenVerifier(
        TokenSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET, jwks=public_jwks(keys))
    )


def _pem(key: Key) -> bytes:
    assert isinstance(key, RSAKey | ECKey)
    return key.as_pem(private=True)


def test_pyjwt_hs256_token_is_accepted(verifier: TokenVerifier) -> None:
    token = pyjwt.encode(claims(), SECRET, algorithm="HS256")
    auth = verifier.verify(token, now=NOW)
    assert auth.sub == "u_ada"
    assert set(auth.memberships) == {"t_acme", "t_globex"}


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_pyjwt_asymmetric_token_is_accepted_through_the_jwks(
    verifier: TokenVerifier, keys: dict[str, Key], alg: str
) -> None:
    key = keys[alg]
    token = pyjwt.encode(claims(), _pem(key), algorithm=alg, headers={"kid": key.kid})
    assert verifier.verify(token, now=NOW).sub == "u_ada"


@pytest.mark.parametrize(
    ("body", "algorithm", "header"),
    [
        (claims(exp=NOW - 3600), "HS256", {}),
        (claims(aud="another"), "HS256", {}),
        (claims(iss="https://evil.example"), "HS256", {}),
        (claims(), "HS512", {}),
        (claims(), "HS256", {"crit": ["urn:x"], "urn:x": 1}),
    ],
)
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_pyjwt_invalid_token_is_refused(
    verifier: TokenVerifier, body: dict[str, Any], algorithm: str, header: dict[str, Any]
) -> None:
    token = pyjwt.encode(body, SECRET, algorithm=algorithm, headers=header or None)
    with pytest.raises(InvalidToken):
        verifier.verify(token, now=NOW)


def test_pyjwt_token_with_unknown_kid_is_refused(verifier: TokenVerifier) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    token = pyjwt.encode(claims(), _pem(stranger), algorithm="RS256", headers={"kid": "rsa-1"})
    with pytest.raises(InvalidToken, match="bad signature"):
        verifier.verify(token, now=NOW)


def test_our_tokens_verify_with_pyjwt() -> None:
    token = mint_token(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, sub="u_ada", tenants={"t_acme": ["member"]}
    )
    decoded = pyjwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "sub", "iss", "aud"]},
    )
    assert decoded["sub"] == "u_ada"
    assert decoded["exp"] > time.time()
