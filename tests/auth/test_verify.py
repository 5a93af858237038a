"""Tokens that should pass, and what the verifier makes of them."""

from __future__ import annotations

import pytest
from joserfc.jwk import Key

from chat_core.context import Role
from chat_core.tokens import InvalidToken, TokenVerifier, mint_token

from .helpers import AUDIENCE, ISSUER, NOW, SECRET, claims, sign, sign_hs


def test_valid_hs256_token_gives_sub_memberships_and_expiry(hs_verifier: TokenVerifier) -> None:
    token = mint_token(
        secret=SECRET,
        issuer=ISSUER,
        audience=AUDIENCE,
        sub="u_ada",
        tenants={"t_acme": ["member"], "t_globex": ["member", "admin"]},
        now=NOW,
    )
    auth = hs_verifier.verify(token, now=NOW + 10)
    assert auth.sub == "u_ada"
    assert dict(auth.memberships) == {
        "t_acme": frozenset({Role.MEMBER}),
        "t_globex": frozenset({Role.MEMBER, Role.ADMIN}),
    }
    assert auth.expires_at == NOW + 3600


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_valid_asymmetric_token_is_verified_by_kid(
    jwks_verifier: TokenVerifier, keys: dict[str, Key], alg: str
) -> None:
    token = sign(keys[alg], alg, claims())
    assert jwks_verifier.verify(token, now=NOW).sub == "u_ada"


def test_hs256_and_jwks_tokens_both_pass_when_both_are_configured(
    both_verifier: TokenVerifier, keys: dict[str, Key]
) -> None:
    hs = mint_token(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, sub="u_ada", tenants={}, now=NOW
    )
    rs = sign(keys["RS256"], "RS256", claims())
    assert both_verifier.verify(hs, now=NOW).sub == "u_ada"
    assert both_verifier.verify(rs, now=NOW).sub == "u_ada"


def test_token_without_kid_uses_the_only_key_of_its_type(
    jwks_verifier: TokenVerifier, keys: dict[str, Key]
) -> None:
    token = sign(keys["ES256"], "ES256", claims(), kid=None)
    assert "kid" not in token.split(".")[0]
    assert jwks_verifier.verify(token, now=NOW).sub == "u_ada"


def test_audience_list_containing_ours_is_accepted(hs_verifier: TokenVerifier) -> None:
    token = sign_hs(claims(aud=["other", AUDIENCE]))
    assert hs_verifier.verify(token, now=NOW).sub == "u_ada"


def test_expired_token_within_leeway_is_accepted(hs_verifier: TokenVerifier) -> None:
    token = sign_hs(claims(exp=NOW - 20))
    assert hs_verifier.verify(token, now=NOW).expires_at == NOW - 20


def test_nbf_and_iat_just_ahead_within_leeway_are_accepted(hs_verifier: TokenVerifier) -> None:
    token = sign_hs(claims(nbf=NOW + 20, iat=NOW + 20))
    assert hs_verifier.verify(token, now=NOW).sub == "u_ada"


def test_token_without_tenants_claim_has_no_memberships(hs_verifier: TokenVerifier) -> None:
    token = sign_hs(claims(tenants=None))
    assert dict(hs_verifier.verify(token, now=NOW).memberships) == {}


def test_unknown_roles_are_ignored(hs_verifier: TokenVerifier) -> None:
    token = sign_hs(claims(tenants={"t_acme": ["owner", "member"], "t_beta": ["owner"]}))
    assert dict(hs_verifier.verify(token, now=NOW).memberships) == {
        "t_acme": frozenset({Role.MEMBER})
    }


def test_bearer_header_is_verified(hs_verifier: TokenVerifier) -> None:
    token = sign_hs(claims())
    assert hs_verifier.verify_authorization(f"Bearer {token}", now=NOW).sub == "u_ada"
    assert hs_verifier.verify_authorization(f"bearer {token}", now=NOW).sub == "u_ada"


@pytest.mark.parametrize("header", [None, "", "Basic dTpw", "Bearer"])
def test_missing_bearer_credentials_say_no_token_was_sent(
    hs_verifier: TokenVerifier, header: str | None
) -> None:
    with pytest.raises(InvalidToken) as caught:
        hs_verifier.verify_authorization(header, now=NOW)
    assert caught.value.token_sent is False
    assert caught.value.challenge == "Bearer"


def test_bad_bearer_token_asks_for_invalid_token_challenge(hs_verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken) as caught:
        hs_verifier.verify_authorization("Bearer not-a-jwt", now=NOW)
    assert caught.value.token_sent is True
    assert caught.value.challenge.startswith('Bearer error="invalid_token"')
