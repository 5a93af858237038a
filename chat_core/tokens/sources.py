"""Which keys may sign a token and what it must say: the HS256 secret, a JWKS, TokenSettings.

HS256 only ever meets the configured secret, asymmetric algorithms only public keys from
the JWKS: a JWKS that holds a symmetric (``oct``) key is refused, so a published key can
never verify HS256.

A JWKS is either fixed at start (inline JSON, a dict, a KeySet) or a ``JwksSource`` whose
keys can change while the server runs: a file read again on SIGHUP, a URL fetched again as
its cache says (tokens.rotating). A string names one of them: inline JSON, a URL or a path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet, OctKey, import_key

__all__ = [
    "ASYMMETRIC",
    "MIN_SECRET_BYTES",
    "SUPPORTED_ALGORITHMS",
    "SYMMETRIC",
    "JwksSource",
    "TokenSettings",
    "load_jwks",
    "public_key_set",
]

MIN_SECRET_BYTES = 32
SYMMETRIC = frozenset({"HS256"})
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
    | {"EdDSA", "Ed25519"}
)
SUPPORTED_ALGORITHMS = SYMMETRIC | ASYMMETRIC


def load_jwks(path_or_json: str) -> KeySet:
    """Load a JWKS from inline JSON or a file path, keeping public keys only."""
    text = path_or_json.strip()
    if not text.startswith("{"):
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read JWKS file {path_or_json!r}: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except ValueError:
        raise ValueError("JWKS is not valid JSON") from None
    return public_key_set(raw)


def public_key_set(raw: object) -> KeySet:
    """Return the public keys of a JWKS document or KeySet; ValueError if any is unusable."""
    if isinstance(raw, KeySet):
        raw = raw.as_dict(private=False)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("keys"), list):
        raise ValueError('JWKS must be a JSON object with a "keys" list')
    try:
        key_set = KeySet.import_key_set({"keys": list(raw["keys"])})
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"JWKS holds an unusable key: {exc}") from None
    public: list[Key] = []
    for key in key_set:
        if key.key_type == "oct":
            # HS256 must only ever meet the configured secret, never a published key.
            raise ValueError("JWKS must not hold symmetric (oct) keys; use hs256_secret")
        public.append(import_key(key.as_dict(private=False)))
    return KeySet(public)


class JwksSource:
    """A JWKS whose keys can change while the server runs; this base never changes them.

    ``keys`` are the last good keys, and keep serving whatever a reload or fetch meets.
    The verifier calls the rest, on the event loop's thread: a subclass does its blocking
    work (reading, fetching) in a worker thread and swaps ``keys`` back on the loop's.
    """

    keys: KeySet
    # Reads or fetches of the keys, the one at start included, and those that failed and
    # kept the last good keys (/metrics: chat_core_jwks_fetches, …_fetch_failures).
    fetches: int = 0
    failures: int = 0

    def may_refetch(self) -> bool:
        """Say whether a token with a kid no key has may fetch the keys again now."""
        return False

    async def refetch(self) -> bool:
        """Fetch the keys again for an unknown kid, if allowed now; True when they changed."""
        return False

    def seconds_to_refresh(self) -> float | None:
        """Return how long the keys may be kept before they are fetched again; None: ever."""
        return None

    async def refresh(self) -> bool:
        """Fetch the keys again because their time is up; True when they changed."""
        return False

    async def reload(self) -> bool:
        """Read or fetch the keys again at the operator's word (SIGHUP); True when changed."""
        return False


def _to_jwks(
    value: JwksSource | KeySet | Mapping[str, Any] | str | None,
) -> JwksSource | KeySet | None:
    if value is None or isinstance(value, JwksSource):
        return value
    if isinstance(value, str):
        # A URL or a file is a source that can change; only inline JSON is fixed. Imported
        # here: tokens.rotating builds on this module.
        from chat_core.tokens.rotating import open_jwks

        return open_jwks(value)
    return public_key_set(value)


def _check_text(_inst: object, attr: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attr.name} must be a non-empty string")


def _check_secret(_inst: object, _attr: attrs.Attribute[bytes | None], value: bytes | None) -> None:
    if value is None:
        return
    if not isinstance(value, bytes) or len(value) < MIN_SECRET_BYTES:
        raise ValueError(f"hs256_secret must be at least {MIN_SECRET_BYTES} bytes")
    # joserfc refuses a public key (PEM, DER, SSH, certificate) as an HMAC secret.
    OctKey.import_key(value)


def _as_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _default_algorithms(settings: TokenSettings) -> tuple[str, ...]:
    algorithms: tuple[str, ...] = ()
    if settings.hs256_secret is not None:
        algorithms += ("HS256",)
    if settings.jwks is not None:
        algorithms += ("RS256", "ES256", "EdDSA")
    return algorithms


def _check_algorithms(
    settings: TokenSettings, _attr: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    if not value:
        raise ValueError("algorithms is empty: configure hs256_secret and/or jwks")
    unknown = sorted(set(value) - SUPPORTED_ALGORITHMS)
    if unknown:
        raise ValueError(
            f"algorithms {unknown} are not supported; use {sorted(SUPPORTED_ALGORITHMS)}"
        )
    if SYMMETRIC & set(value) and settings.hs256_secret is None:
        raise ValueError("HS256 is allowed but no hs256_secret is configured")
    if ASYMMETRIC & set(value) and settings.jwks is None:
        raise ValueError("an asymmetric algorithm is allowed but no jwks is configured")


def _check_non_negative(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"{attr.name} must be an int >= 0, not {value!r}")


@frozen(kw_only=True)
class TokenSettings:
    """What a token must say and which keys may sign it, fixed at start."""

    issuer: str = field(validator=_check_text)
    audience: str = field(validator=_check_text)
    hs256_secret: bytes | None = field(default=None, validator=_check_secret)
    jwks: JwksSource | KeySet | None = field(default=None, converter=_to_jwks)
    algorithms: tuple[str, ...] = field(
        default=attrs.Factory(_default_algorithms, takes_self=True),
        converter=_as_tuple,
        validator=_check_algorithms,
    )
    leeway: int = field(default=30, validator=_check_non_negative)
    cache_size: int = field(default=10_000, validator=_check_non_negative)
