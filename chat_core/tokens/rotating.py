"""Key sets that change without a restart: a JWKS file, and a JWKS at a URL.

- ``FileJwks``: read at start; read again on SIGHUP (``reload``).
- ``UrlJwks``: fetched at start; fetched again when its ``Cache-Control`` lifetime is up
  (clamped to 60 s .. 24 h), on a token whose kid no key has (at most once per 30 s), and
  on SIGHUP. While the URL fails, the last good keys keep serving and the fetch is tried
  again a minute later.

A start-up read or fetch that fails is a ValueError with a one-line message: the server
refuses to start. Later failures are logged and change nothing. Reading and fetching run in
a worker thread; the keys are swapped on the event loop's thread, where the verifier reads
them, so no lock is needed. Concurrent refreshes share one fetch.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

from joserfc.jwk import KeySet

from chat_core.tokens.fetching import (
    MIN_CACHE_SECONDS,
    Fetched,
    check_url,
    discover,
    fetch_json,
    is_url,
)
from chat_core.tokens.sources import JwksSource, load_jwks, public_key_set

__all__ = ["REFETCH_GAP", "RETRY_SECONDS", "FileJwks", "UrlJwks", "configured_jwks", "open_jwks"]

log = logging.getLogger("chat_core.tokens")

# API.md: an unknown kid fetches the keys again at most once per 30 s.
REFETCH_GAP = 30.0
# After a failed fetch the last good keys serve, and the URL is tried again this much later.
RETRY_SECONDS = MIN_CACHE_SECONDS


def open_jwks(text: str) -> JwksSource | KeySet:
    """Return the JWKS a setting names: inline JSON (fixed), a URL or a file path (sources)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return load_jwks(stripped)
    if is_url(stripped):
        return UrlJwks(stripped)
    return FileJwks(Path(stripped))


def _same(first: KeySet, second: KeySet) -> bool:
    return first.as_dict(private=False) == second.as_dict(private=False)


class FileJwks(JwksSource):
    """A JWKS file, read at start and again on SIGHUP."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keys = load_jwks(str(path))
        self.fetches = 1

    async def reload(self) -> bool:
        """Read the file again; keep the last good keys (and log why) if it is unusable."""
        self.fetches += 1
        try:
            keys = await asyncio.to_thread(load_jwks, str(self.path))
        except ValueError as exc:
            self.failures += 1
            log.error("JWKS file not reloaded, the last good keys still serve: %s", exc)
            return False
        changed = not _same(keys, self.keys)
        self.keys = keys
        log.info("JWKS file %s reloaded: %d keys", self.path, len(keys.keys))
        return changed


class UrlJwks(JwksSource):
    """A JWKS at an https URL, kept as long as its Cache-Control says, then fetched again."""

    def __init__(
        self,
        url: str,
        *,
        fetch: Callable[[str], Fetched] = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = check_url(url, "a JWKS URL")
        self._fetch = fetch
        self._clock = clock
        # Counted by _get and _refresh (see JwksSource), the first fetch, below, included.
        self.fetches = 0
        self.failures = 0
        self._inflight: asyncio.Future[bool] | None = None
        self._kid_fetch: asyncio.Future[bool] | None = None
        self._kid_fetch_at = -math.inf
        fetched = self._get()
        self.keys = self._keys_of(fetched)
        self._due = self._clock() + fetched.max_age

    def _get(self) -> Fetched:
        self.fetches += 1
        return self._fetch(self.url)

    def _keys_of(self, fetched: Fetched) -> KeySet:
        try:
            return public_key_set(fetched.document)
        except ValueError as exc:
            raise ValueError(f"the JWKS at {self.url} is unusable: {exc}") from None

    def may_refetch(self) -> bool:
        """Say whether an unknown kid may fetch now: none did in the last 30 s."""
        return self._clock() - self._kid_fetch_at >= REFETCH_GAP

    async def refetch(self) -> bool:
        """Fetch for an unknown kid, or join the one under way; nothing more within 30 s.

        The 30 s count from the start of the fetch and again from its end, so a token
        verified again right after it is refused outright, never sent to fetch once more.
        """
        if self.may_refetch():
            self._kid_fetch_at = self._clock()
            self._kid_fetch = asyncio.ensure_future(self._refetch())
        if self._kid_fetch is None:
            return False
        return await asyncio.shield(self._kid_fetch)

    async def _refetch(self) -> bool:
        try:
            return await self.refresh()
        finally:
            self._kid_fetch_at = self._clock()

    def seconds_to_refresh(self) -> float:
        """Return the seconds until the cached keys' lifetime (or the retry delay) is up."""
        return max(0.0, self._due - self._clock())

    async def reload(self) -> bool:
        """Fetch again at the operator's word (SIGHUP)."""
        return await self.refresh()

    async def refresh(self) -> bool:
        """Fetch the keys, or join the fetch under way; True when they changed."""
        inflight = self._inflight
        if inflight is None:
            inflight = self._inflight = asyncio.ensure_future(self._refresh())
            inflight.add_done_callback(self._finished)
        # Shielded: a caller that goes away does not cancel the fetch the others wait for.
        return await asyncio.shield(inflight)

    def _finished(self, inflight: asyncio.Future[bool]) -> None:
        if self._inflight is inflight:
            self._inflight = None

    async def _refresh(self) -> bool:
        try:
            fetched = await asyncio.to_thread(self._get)
            keys = self._keys_of(fetched)
        except Exception as exc:  # FetchFailed, an unusable key set, or a fault of ours
            self.failures += 1
            self._due = self._clock() + RETRY_SECONDS
            unexpected = not isinstance(exc, ValueError)
            log.warning(
                "JWKS not refreshed, the last good keys still serve: %s", exc, exc_info=unexpected
            )
            return False
        self._due = self._clock() + fetched.max_age
        changed = not _same(keys, self.keys)
        self.keys = keys
        if changed:
            log.info("JWKS from %s refreshed: %d keys", self.url, len(keys.keys))
        return changed


def configured_jwks(
    *, jwks: str | None, oidc_issuer: str | None, issuer: str
) -> tuple[str, JwksSource | KeySet | None]:
    """Return the issuer to require and the JWKS that the settings name (fetched now).

    ``jwks`` is inline JSON, a file path or a URL; ``oidc_issuer`` an OpenID Provider whose
    discovery document names the JWKS URL. When the issuer was not set apart from the
    provider (it equals ``oidc_issuer``), it is the issuer the document names, as tokens
    carry it. Blocks while fetching: call it in a worker thread once a loop runs.
    """
    if oidc_issuer is None:
        return issuer, None if jwks is None else open_jwks(jwks)
    if jwks is not None:
        raise ValueError("CHAT_CORE_JWKS and CHAT_CORE_OIDC_ISSUER both name the keys: set one")
    named, jwks_uri = discover(oidc_issuer)
    return (named if issuer == oidc_issuer else issuer), UrlJwks(jwks_uri)
