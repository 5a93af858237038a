"""Turn bearer tokens into AuthContexts, each verified token cached until it expires.

With a JWKS source whose keys can change (a file, a URL), the verifier also drives it:
``keep_keys_fresh`` fetches again whenever the cached keys' time is up, ``reload_keys``
answers SIGHUP, and a token whose kid no key has raises ``KeysOutdated`` while the source
may fetch again (at most once per 30 s), so its caller can await the fetch and retry. When
the keys change, the verified-token cache is emptied: a token of a key that is gone is not
answered from it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import OrderedDict

from authlib.oauth2.rfc6749 import ResourceProtector
from authlib.oauth2.rfc6749.errors import MissingAuthorizationError, UnsupportedTokenTypeError

from chat_core.context import AuthContext
from chat_core.tokens.bearer import AuthorizationHeader, JWTBearerValidator
from chat_core.tokens.claims import InvalidToken, KeysOutdated, UnknownKey, Verified, verified
from chat_core.tokens.sources import JwksSource, TokenSettings

__all__ = ["MAX_TOKEN_BYTES", "TokenVerifier"]

MAX_TOKEN_BYTES = 8192
# Three non-empty base64url segments: anything else (JWE, unsecured, JSON form, padding,
# whitespace, non-ASCII) is refused before joserfc sees a byte.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class TokenVerifier:
    """Turn bearer tokens into AuthContexts, caching each verified token until it expires."""

    def __init__(self, settings: TokenSettings) -> None:
        self.settings = settings
        self._validator = JWTBearerValidator(settings)
        self._protector = ResourceProtector()
        self._protector.register_token_validator(self._validator)
        jwks = settings.jwks
        self.key_source = jwks if isinstance(jwks, JwksSource) else None
        # Unlocked: verification runs on the event loop's thread, never across threads.
        self._cache: OrderedDict[bytes, Verified] = OrderedDict()
        # Plain counters for metrics: tokens answered from the cache, and tokens verified.
        self.cache_hits = 0
        self.cache_misses = 0

    def verify_authorization(
        self, authorization: str | None, *, now: float | None = None
    ) -> AuthContext:
        """Verify the token in an ``Authorization`` header value.

        A token verified before, sent as ``Bearer <token>``, is answered from the cache
        without authlib's parse or the shape check: both passed when it was first verified,
        and the digest lookup matches that very token. Its time checks still run.
        """
        if authorization is not None and authorization.startswith("Bearer "):
            known = self._known(_digest(authorization[7:]), now)
            if known is not None:
                return known
        try:
            _validator, token = self._protector.parse_request_authorization(
                AuthorizationHeader(authorization)
            )
        except (MissingAuthorizationError, UnsupportedTokenTypeError):
            # RFC 6750 3.1: no bearer credentials at all earns a bare challenge.
            raise InvalidToken("no bearer token", token_sent=False) from None
        return self.verify(token, now=now)

    def verify(self, token: str, *, now: float | None = None) -> AuthContext:
        """Return the caller a bearer token names, or raise InvalidToken."""
        if not isinstance(token, str) or not token:
            raise InvalidToken("malformed token")
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("token too large")
        if _COMPACT_JWS.fullmatch(token) is None:
            raise InvalidToken("malformed token")
        digest = _digest(token)
        known = self._known(digest, now)
        if known is not None:
            return known
        self.cache_misses += 1
        try:
            claims = self._validator.authenticate_token(token)
        except UnknownKey as exc:
            if self.key_source is not None and self.key_source.may_refetch():
                raise KeysOutdated(exc.reason, self.refetch_keys) from None
            raise
        self._validator.validate_token(claims, None, None, now=time.time() if now is None else now)
        verified_token = verified(claims)
        self._remember(digest, verified_token)
        return verified_token.auth

    async def refetch_keys(self) -> None:
        """Fetch the JWKS again for a token whose kid no key has (at most once per 30 s)."""
        if self.key_source is not None and await self.key_source.refetch():
            self._keys_changed()

    async def reload_keys(self) -> None:
        """Read the JWKS file, or fetch the JWKS URL, again (SIGHUP); keep them if that fails."""
        if self.key_source is not None and await self.key_source.reload():
            self._keys_changed()

    async def keep_keys_fresh(self) -> None:
        """Fetch the JWKS again each time its cached keys' time is up; run until cancelled."""
        source = self.key_source
        if source is None:
            return
        while (wait := source.seconds_to_refresh()) is not None:
            await asyncio.sleep(wait)
            if await source.refresh():
                self._keys_changed()

    def _keys_changed(self) -> None:
        assert self.key_source is not None
        self._validator.use_keys(self.key_source.keys)
        self._cache.clear()

    def _known(self, digest: bytes, now: float | None) -> AuthContext | None:
        """Answer a token verified before from the cache, its times checked; None if unknown."""
        cached = self._cache.get(digest)
        if cached is None:
            return None
        self.cache_hits += 1
        at = time.time() if now is None else now
        leeway = self.settings.leeway
        if cached.expires_at <= at - leeway:
            del self._cache[digest]
            raise InvalidToken("expired")
        if cached.valid_from > at + leeway:
            raise InvalidToken("not yet valid")
        self._cache.move_to_end(digest)
        return cached.auth

    def _remember(self, digest: bytes, verified_token: Verified) -> None:
        if self.settings.cache_size == 0:
            return
        self._cache[digest] = verified_token
        while len(self._cache) > self.settings.cache_size:
            self._cache.popitem(last=False)


def _digest(token: str) -> bytes:
    """Key a token in the cache by its SHA-256, so the cache holds no usable token."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
