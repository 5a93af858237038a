"""Fetch a JWKS or an OpenID Provider's configuration over HTTPS, with the standard library.

urllib.request, called in a worker thread by the caller, rather than a fetching port that
the transports would supply: a key set is fetched once at start and then once per cache
period or per unknown ``kid`` (at most one per 30 s), so a thread per fetch costs nothing
that matters; chat_core stays free of aiohttp and needs no client session to open and
close; and the start-up fetch, which runs before any event loop serves, is the same code.

Only ``https://`` is fetched, or ``http://`` on a loopback host (for tests and a local
identity provider), and a redirect is held to the same rule. A body over 1 MiB, a status
other than 200 and anything but a JSON object are failures; each failure is a
``FetchFailed`` whose message names the URL and why, never a traceback.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import urllib.error
import urllib.request
from typing import IO, Any
from urllib.parse import urlsplit

from attrs import frozen

__all__ = [
    "DEFAULT_CACHE_SECONDS",
    "FETCH_TIMEOUT",
    "MAX_CACHE_SECONDS",
    "MIN_CACHE_SECONDS",
    "FetchFailed",
    "Fetched",
    "cache_seconds",
    "check_url",
    "discover",
    "fetch_json",
    "is_url",
]

FETCH_TIMEOUT = 10.0
MAX_BODY_BYTES = 1024 * 1024
# API.md: a JWKS is cached as its Cache-Control says, between 60 s and 24 h.
MIN_CACHE_SECONDS = 60.0
MAX_CACHE_SECONDS = 24 * 3600.0
# No Cache-Control at all: five minutes, as most resource-server libraries do.
DEFAULT_CACHE_SECONDS = 300.0
_MAX_AGE = re.compile(r"max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_LOOPBACK_NAMES = frozenset({"localhost"})


class FetchFailed(ValueError):
    """A URL that could not be fetched or did not hold what it should."""


@frozen
class Fetched:
    """A JSON object fetched, and how many seconds it may be kept."""

    document: dict[str, Any]
    max_age: float


def is_url(text: str) -> bool:
    """Say whether a setting's text is a URL (rather than a file path or inline JSON)."""
    return text.strip().lower().startswith(("https://", "http://"))


def check_url(url: str, what: str) -> str:
    """Return url when it may be fetched: https, or http on a loopback host; else ValueError."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url.strip()
    if parts.scheme == "http" and _is_loopback(host):
        return url.strip()
    raise ValueError(f"{what} must be an https:// URL (http:// only on a loopback host): {url!r}")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cache_seconds(cache_control: str | None) -> float:
    """Return how long an answer may be kept: its max-age clamped to 60 s .. 24 h."""
    if cache_control is None:
        return DEFAULT_CACHE_SECONDS
    directives = {part.strip().lower() for part in cache_control.split(",")}
    if "no-store" in directives or "no-cache" in directives:
        return MIN_CACHE_SECONDS
    found = _MAX_AGE.search(cache_control)
    if found is None:
        return DEFAULT_CACHE_SECONDS
    return min(max(float(found.group(1)), MIN_CACHE_SECONDS), MAX_CACHE_SECONDS)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL that could have been configured itself."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        try:
            check_url(newurl, "a redirect")
        except ValueError as exc:
            raise urllib.error.URLError(str(exc)) from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_CheckedRedirects())


def fetch_json(url: str, *, timeout: float = FETCH_TIMEOUT) -> Fetched:
    """GET url and return its JSON object and cache lifetime; FetchFailed on any fault."""
    check_url(url, "the URL")
    request = urllib.request.Request(  # noqa: S310 -- the scheme was checked just above
        url, headers={"Accept": "application/json", "User-Agent": "chat-core"}
    )
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            if answer.status != 200:
                raise FetchFailed(f"cannot fetch {url}: HTTP {answer.status}")
            body = answer.read(MAX_BODY_BYTES + 1)
            max_age = cache_seconds(answer.headers.get("Cache-Control"))
    except urllib.error.HTTPError as exc:
        raise FetchFailed(f"cannot fetch {url}: HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise FetchFailed(f"cannot fetch {url}: {exc.reason}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets, junk
        if isinstance(exc, FetchFailed):
            raise
        raise FetchFailed(f"cannot fetch {url}: {exc or type(exc).__name__}") from None
    if len(body) > MAX_BODY_BYTES:
        raise FetchFailed(f"cannot use {url}: the answer is over {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError:
        raise FetchFailed(f"cannot use {url}: the answer is not JSON") from None
    if not isinstance(document, dict):
        raise FetchFailed(f"cannot use {url}: the answer is not a JSON object")
    return Fetched(document, max_age)


def discover(issuer: str, *, timeout: float = FETCH_TIMEOUT) -> tuple[str, str]:
    """Read an issuer's OpenID configuration; return the issuer it names and its jwks_uri.

    The document's ``issuer`` must be the one asked about (OpenID Connect Discovery 4.3; a
    trailing slash aside, as providers differ there) and is returned as the document spells
    it, since that is what its tokens carry in ``iss``.
    """
    base = check_url(issuer, "CHAT_CORE_OIDC_ISSUER").rstrip("/")
    url = f"{base}/.well-known/openid-configuration"
    document = fetch_json(url, timeout=timeout).document
    named = document.get("issuer")
    if not isinstance(named, str) or named.rstrip("/") != base:
        raise FetchFailed(f"{url} names the issuer {named!r}, not {issuer!r}")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise FetchFailed(f"{url} names no jwks_uri")
    try:
        check_url(jwks_uri, f"the jwks_uri of {url}")
    except ValueError as exc:
        raise FetchFailed(str(exc)) from None
    return named, jwks_uri
