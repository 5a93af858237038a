"""The verified-token cache: bounded, expiry-aware, never holding failures."""

from __future__ import annotations

import pytest

from chat_core.tokens import InvalidToken, TokenSettings, TokenVerifier

from .helpers import AUDIENCE, ISSUER, NOW, SECRET, claims, sign_hs


def test_cached_token_stops_working_when_it_expires(hs_verifier: TokenVerifier) -> None:
    token = sign_hs(claims(exp=NOW + 60))
    first = hs_verifier.verify(token, now=NOW)
    assert hs_verifier.verify(token, now=NOW + 1) is first  # served from the cache
    assert hs_verifier.verify(token, now=NOW + 60 + 29) is first  # inside the leeway
    with pytest.raises(InvalidToken) as caught:
        hs_verifier.verify(token, now=NOW + 60 + 30)
    assert caught.value.reason == "expired"


def test_cached_token_is_not_valid_before_its_nbf(hs_verifier: TokenVerifier) -> None:
    token = sign_hs(claims(nbf=NOW))
    hs_verifier.verify(token, now=NOW)
    with pytest.raises(InvalidToken):
        hs_verifier.verify(token, now=NOW - 31)


def test_failures_are_not_cached(hs_verifier: TokenVerifier) -> None:
    token = sign_hs(claims(nbf=NOW + 100))
    with pytest.raises(InvalidToken):
        hs_verifier.verify(token, now=NOW)
    assert hs_verifier.verify(token, now=NOW + 100).sub == "u_ada"


def test_cache_evicts_the_least_recently_used_token() -> None:
    settings = TokenSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET, cache_size=2)
    verifier = TokenVerifier(settings)
    tokens = [sign_hs(claims(sub=f"u_{n}")) for n in range(3)]
    first = verifier.verify(tokens[0], now=NOW)
    verifier.verify(tokens[1], now=NOW)
    verifier.verify(tokens[2], now=NOW)
    again = verifier.verify(tokens[0], now=NOW)
    assert again == first
    assert again is not first


def test_cache_size_zero_disables_caching() -> None:
    settings = TokenSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET, cache_size=0)
    verifier = TokenVerifier(settings)
    token = sign_hs(claims())
    assert verifier.verify(token, now=NOW) is not verifier.verify(token, now=NOW)


def test_header_of_a_cached_token_still_honours_its_expiry(hs_verifier: TokenVerifier) -> None:
    token = sign_hs(claims(exp=NOW + 60))
    first = hs_verifier.verify_authorization(f"Bearer {token}", now=NOW)
    hits = hs_verifier.cache_hits
    assert hs_verifier.verify_authorization(f"Bearer {token}", now=NOW + 1) is first
    assert hs_verifier.cache_hits == hits + 1
    with pytest.raises(InvalidToken) as caught:
        hs_verifier.verify_authorization(f"Bearer {token}", now=NOW + 60 + 30)
    assert caught.value.reason == "expired"


@pytest.mark.parametrize(
    "spelling", ["bearer {}", "BEARER {}", "Bearer  {}", "Bearer\t{}", "Bearer {} "]
)
def test_other_spellings_of_a_cached_token_answer_as_authlib_parses_them(
    hs_verifier: TokenVerifier, spelling: str
) -> None:
    token = sign_hs(claims())
    first = hs_verifier.verify_authorization(f"Bearer {token}", now=NOW)
    header = spelling.format(token)
    if header.endswith(" "):
        # authlib keeps the trailing blank in the token, which is then malformed.
        with pytest.raises(InvalidToken):
            hs_verifier.verify_authorization(header, now=NOW)
    else:
        assert hs_verifier.verify_authorization(header, now=NOW) is first


def test_a_cached_token_with_a_byte_more_is_refused(hs_verifier: TokenVerifier) -> None:
    token = sign_hs(claims())
    hs_verifier.verify_authorization(f"Bearer {token}", now=NOW)
    for header in (f"Bearer {token}x", f"Bearer {token[:-1]}", f"Bearer {token}\u00e9"):
        with pytest.raises(InvalidToken):
            hs_verifier.verify_authorization(header, now=NOW)
