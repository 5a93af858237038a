"""Whatever arrives as a token, the only failure is InvalidToken."""

from __future__ import annotations

import contextlib
import functools

from hypothesis import given

from chat_core.tokens import InvalidToken, TokenSettings, TokenVerifier

from .helpers import AUDIENCE, ISSUER, NOW, SECRET, private_keys, public_jwks
from .strategies import hostile_tokens


@functools.cache
def _verifier() -> TokenVerifier:
    # Both key families, so hostile headers reach the JWKS resolver as well as the secret.
    jwks = public_jwks(private_keys())
    settings = TokenSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET, jwks=jwks)
    return TokenVerifier(settings)


@given(hostile_tokens)
def test_any_string_as_token_fails_only_with_invalid_token(token: str) -> None:
    try:
        auth = _verifier().verify(token, now=NOW)
    except InvalidToken as exc:
        assert exc.token_sent is True
    else:
        # Only an honestly signed token with a sane claim set can get here.
        assert auth.sub
        assert "t_unknown" not in auth.memberships
        assert all(roles for roles in auth.memberships.values())


@given(hostile_tokens)
def test_any_authorization_header_fails_only_with_invalid_token(token: str) -> None:
    with contextlib.suppress(InvalidToken):
        _verifier().verify_authorization(f"Bearer {token}", now=NOW)
