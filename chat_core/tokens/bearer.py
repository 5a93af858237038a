"""The RFC 6750 bearer-JWT validator: signatures by joserfc, registered claims by authlib.

How authlib and joserfc share the work:

- authlib (RFC 6750): ``ResourceProtector`` parses the ``Authorization`` header and
  ``TokenVerifier`` plugs a ``BearerTokenValidator`` into it; the validator wraps claims in
  authlib's ``JWTClaims``, which checks them through joserfc's ``JWTClaimsRegistry``.
- joserfc: signatures, with one ``JWSRegistry`` built at start from the configured
  allow-list and a key resolver, and ``jwt.encode`` for minting.

authlib's RFC 9068 ``JWTBearerTokenValidator`` is not used: it demands ``client_id``,
``iat`` and ``jti``, which our tokens need not carry; it decodes with joserfc's default
registry instead of our allow-list; and it hands the whole key set to joserfc, where a
JWKS ``oct`` key would verify HS256. Our resolver keeps the key families apart: HS256 only
ever meets the configured secret, asymmetric algorithms only public keys from the JWKS.

A token without ``kid`` is accepted against a JWKS only when exactly one key there fits
its algorithm; with several candidates it is refused rather than tried against each.
Headers that carry keys (``jwk``, ``jku``, ``x5u``, ``x5c``) and RFC 7797's ``b64`` are
refused outright, never trusted; a ``crit`` naming an extension we do not know is refused.

The JWKS keys are replaced through ``use_keys`` when a JWKS source's keys change.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.claims import JWTClaims
from authlib.oauth2.rfc6750 import BearerTokenValidator
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import GuestProtocol, Key, KeySet, OctKey
from joserfc.jws import JWSRegistry
from joserfc.jwt import ClaimsOption
from joserfc.registry import JWS_HEADER_REGISTRY, HeaderParameter

from chat_core.tokens.claims import InvalidToken, UnknownKey
from chat_core.tokens.sources import SYMMETRIC, JwksSource, TokenSettings

__all__ = ["AuthorizationHeader", "JWTBearerValidator"]

_UNTRUSTED_HEADERS = ("jwk", "jku", "x5u", "x5c", "b64")
_CLAIM_REASONS = {
    "iss": "wrong issuer",
    "aud": "wrong audience",
    "nbf": "not yet valid",
    "iat": "bad iat",
    "exp": "bad exp",
    "sub": "bad sub",
}


class AuthorizationHeader:
    """The one request attribute authlib's ResourceProtector reads."""

    def __init__(self, authorization: str | None) -> None:
        self.headers = {"Authorization": authorization} if authorization else {}


class JWTBearerValidator(BearerTokenValidator):  # type: ignore[misc]
    """Authenticate RFC 6750 bearer JWTs against our keys and claim rules."""

    def __init__(self, settings: TokenSettings) -> None:
        super().__init__()
        self._secret = OctKey.import_key(settings.hs256_secret) if settings.hs256_secret else None
        jwks = settings.jwks
        self._jwks: list[Key] = []
        self.use_keys(jwks.keys if isinstance(jwks, JwksSource) else jwks)
        header_registry = dict(JWS_HEADER_REGISTRY)
        for name in _UNTRUSTED_HEADERS:
            header_registry[name] = HeaderParameter(f"{name} (refused)", "none")
        # Not strict: RFC 7515 says unknown headers outside `crit` are ignored, not fatal.
        self._registry = JWSRegistry(
            header_registry=header_registry,
            algorithms=list(settings.algorithms),
            strict_check_header=False,
        )
        self._claim_options: dict[str, ClaimsOption] = {
            "iss": {"essential": True, "value": settings.issuer},
            "aud": {"essential": True, "value": settings.audience},
            "sub": {"essential": True},
            "exp": {"essential": True},
        }
        self._leeway = settings.leeway

    def use_keys(self, keys: KeySet | None) -> None:
        """Verify asymmetric signatures with these JWKS keys from now on."""
        self._jwks = list(keys or ())

    def authenticate_token(self, token_string: str) -> Any:
        """Check the signature and return the token's unvalidated claims."""
        try:
            token = jwt.decode(token_string, self._resolve_key, registry=self._registry)
        except UnsupportedAlgorithmError:
            raise InvalidToken("algorithm not allowed") from None
        except BadSignatureError:
            raise InvalidToken("bad signature") from None
        except JoseError as exc:
            raise InvalidToken(_jose_reason(exc)) from None
        except (ValueError, TypeError, RecursionError):
            raise InvalidToken("malformed token") from None
        # authlib's JWTClaims pops hooks out of the options it gets, so each token gets a copy.
        options = {name: option.copy() for name, option in self._claim_options.items()}
        return JWTClaims(token.claims, token.header, options)

    def validate_token(
        self, token: Any, scopes: object, request: object, *, now: float | None = None
    ) -> None:
        """Check the registered claims at now, within the leeway."""
        try:
            token.validate(now=time.time() if now is None else now, leeway=self._leeway)
        except ExpiredTokenError:
            raise InvalidToken("expired") from None
        except MissingClaimError as exc:
            raise InvalidToken(f"missing {exc.claim}") from None
        except ClaimError as exc:
            raise InvalidToken(_CLAIM_REASONS.get(exc.claim, "bad claim")) from None

    def _resolve_key(self, obj: GuestProtocol) -> Key:
        # joserfc has already held alg against the allow-list; here the families part.
        header = obj.headers()
        alg = header["alg"]
        if alg in SYMMETRIC:
            if self._secret is None:
                raise InvalidToken("algorithm not allowed")
            return self._secret
        key_type = JWSRegistry.algorithms[alg].key_type
        candidates = [
            key
            for key in self._jwks
            if key.key_type == key_type
            and key.get("use") in (None, "sig")
            and key.get("alg") in (None, alg)
        ]
        if not candidates:
            raise UnknownKey("no key for algorithm")
        kid = header.get("kid")
        if kid is None:
            if len(candidates) > 1:
                raise InvalidToken("missing kid")
            return candidates[0]
        matching = [key for key in candidates if key.kid == kid]
        if not matching:
            raise UnknownKey("unknown kid")
        if len(matching) > 1:
            raise InvalidToken("ambiguous kid")
        return matching[0]


def _jose_reason(exc: JoseError) -> str:
    if exc.error in {"unsupported_header", "missing_crit_header"}:
        return "unsupported header"
    if exc.error in {"invalid_header_value", "missing_header"}:
        return "bad header"
    if exc.error.startswith(("invalid_key", "unsupported_key", "missing_key")):
        return "key does not fit algorithm"
    return "malformed token"
