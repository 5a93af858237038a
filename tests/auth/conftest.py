"""Keys and verifiers shared by the auth tests."""

from __future__ import annotations

import pytest
from joserfc.jwk import Key

from chat_core.tokens import TokenSettings, TokenVerifier

from .helpers import AUDIENCE, ISSUER, SECRET, private_keys, public_jwks


@pytest.fixture(scope="session")
def keys() -> dict[str, Key]:
    return private_keys()


@pytest.fixture
def hs_verifier() -> TokenVerifier:
    return TokenVerifier(TokenSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET))


@pytest.fixture
def jwks_verifier(keys: dict[str, Key]) -> TokenVerifier:
    return TokenVerifier(TokenSettings(issuer=ISSUER, audience=AUDIENCE, jwks=public_jwks(keys)))


@pytest.fixture
def both_verifier(keys: dict[str, Key]) -> TokenVerifier:
    return TokenVerifier(
        TokenSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET, jwks=public_jwks(keys))
    )
