"""Every token of the attack corpus is refused by the verifier; the valid ones pass."""

from __future__ import annotations

import pytest
from joserfc.jwk import Key, RSAKey

from chat_core.tokens import InvalidToken, TokenSettings, TokenVerifier

from .corpus import attack_tokens, valid_tokens
from .helpers import AUDIENCE, ISSUER, NOW, SECRET, public_jwks

REMOVED = RSAKey.generate_key(2048, parameters={"kid": "rsa-retired"})


@pytest.fixture(scope="module")
def corpus(keys: dict[str, Key]) -> dict[str, str]:
    return attack_tokens(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, keys=keys, removed=REMOVED, now=NOW
    )


@pytest.fixture
def verifier(keys: dict[str, Key]) -> TokenVerifier:
    return TokenVerifier(
        TokenSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET, jwks=public_jwks(keys))
    )


def test_the_corpus_names_every_attack_of_the_issue(corpus: dict[str, str]) -> None:
    expected = {
        "alg-nOnE-some-signature",
        "hs256-signed-with-rs256-public-pem",
        "unknown-kid",
        "kid-path-traversal",
        "kid-quotes",
        "kid-very-long",
        "header-jwk",
        "header-jku",
        "header-x5u",
        "header-x5c",
        "crit-unknown",
        "expired",
        "nbf-future",
        "iat-future",
        "wrong-iss",
        "aud-missing-ours",
        "sub-missing",
        "exp-missing",
        "sub-number",
        "exp-string",
        "tampered-payload",
        "over-8-kib",
        "signed-by-removed-jwks-key",
    }
    assert expected <= corpus.keys()
    assert len(corpus["over-8-kib"]) > 8192


def test_every_attack_is_refused(verifier: TokenVerifier, corpus: dict[str, str]) -> None:
    for name, token in corpus.items():
        with pytest.raises(InvalidToken) as caught:
            verifier.verify(token, now=NOW)
        assert caught.value.token_sent, name


def test_a_key_removed_from_the_jwks_no_longer_verifies(keys: dict[str, Key]) -> None:
    with_old = TokenVerifier(
        TokenSettings(issuer=ISSUER, audience=AUDIENCE, jwks=public_jwks({**keys, "old": REMOVED}))
    )
    without = TokenVerifier(TokenSettings(issuer=ISSUER, audience=AUDIENCE, jwks=public_jwks(keys)))
    token = attack_tokens(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, keys=keys, removed=REMOVED, now=NOW
    )["signed-by-removed-jwks-key"]
    assert with_old.verify(token, now=NOW).sub == "u_ada"
    with pytest.raises(InvalidToken, match="unknown kid"):
        without.verify(token, now=NOW)


def test_valid_tokens_pass(verifier: TokenVerifier, keys: dict[str, Key]) -> None:
    tokens = valid_tokens(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, keys=keys, now=NOW)
    for token in tokens.values():
        assert verifier.verify(token, now=NOW).sub == "u_ada"
