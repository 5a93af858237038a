"""Verify and mint the bearer JWTs that say who a caller is and which tenants it belongs to.

One error, ``InvalidToken``, covers every failure; its ``token_sent`` says whether the
caller sent a bearer token at all, so the HTTP layer can answer ``Bearer`` alone or
``Bearer error="invalid_token"`` (RFC 6750, section 3.1).

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
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen
from authlib.oauth2.claims import JWTClaims
from authlib.oauth2.rfc6749 import ResourceProtector
from authlib.oauth2.rfc6749.errors import MissingAuthorizationError, UnsupportedTokenTypeError
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
from joserfc.jwk import GuestProtocol, Key, KeySet, OctKey, import_key
from joserfc.jws import JWSRegistry
from joserfc.jwt import ClaimsOption
from joserfc.registry import JWS_HEADER_REGISTRY, HeaderParameter

from chat_core.context import AuthContext, Role
from events.envelope import InvalidContext, check_request_id, check_tenant

__all__ = [
    "MAX_TOKEN_BYTES",
    "MIN_SECRET_BYTES",
    "SUPPORTED_ALGORITHMS",
    "InvalidToken",
    "TokenSettings",
    "TokenVerifier",
    "load_jwks",
    "mint_token",
    "parse_tenant_roles",
]

MAX_TOKEN_BYTES = 8192
MIN_SECRET_BYTES = 32
_SYMMETRIC = frozenset({"HS256"})
_ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
    | {"EdDSA", "Ed25519"}
)
SUPPORTED_ALGORITHMS = _SYMMETRIC | _ASYMMETRIC

# Three non-empty base64url segments: anything else (JWE, unsecured, JSON form, padding,
# whitespace, non-ASCII) is refused before joserfc sees a byte.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_UNTRUSTED_HEADERS = ("jwk", "jku", "x5u", "x5c", "b64")
_KNOWN_ROLES = frozenset(role.value for role in Role)
_CLAIM_REASONS = {
    "iss": "wrong issuer",
    "aud": "wrong audience",
    "nbf": "not yet valid",
    "iat": "bad iat",
    "exp": "bad exp",
    "sub": "bad sub",
}


class InvalidToken(Exception):
    """A bearer token (or its absence) that does not authenticate the caller."""

    def __init__(self, reason: str, *, token_sent: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.token_sent = token_sent

    @property
    def challenge(self) -> str:
        """Return the RFC 6750 ``WWW-Authenticate`` value that answers this failure."""
        if not self.token_sent:
            return "Bearer"
        return f'Bearer error="invalid_token", error_description="{self.reason}"'


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
    return _public_key_set(raw)


def _public_key_set(raw: object) -> KeySet:
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


def _to_key_set(value: KeySet | Mapping[str, Any] | str | None) -> KeySet | None:
    if value is None:
        return None
    if isinstance(value, str):
        return load_jwks(value)
    return _public_key_set(value)


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
    if _SYMMETRIC & set(value) and settings.hs256_secret is None:
        raise ValueError("HS256 is allowed but no hs256_secret is configured")
    if _ASYMMETRIC & set(value) and settings.jwks is None:
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
    jwks: KeySet | None = field(default=None, converter=_to_key_set)
    algorithms: tuple[str, ...] = field(
        default=attrs.Factory(_default_algorithms, takes_self=True),
        converter=_as_tuple,
        validator=_check_algorithms,
    )
    leeway: int = field(default=30, validator=_check_non_negative)
    cache_size: int = field(default=10_000, validator=_check_non_negative)


@frozen(kw_only=True)
class _Verified:
    """A verified token's caller and the window in which it stays valid."""

    auth: AuthContext
    valid_from: float
    expires_at: float


class _Headers:
    """The one request attribute authlib's ResourceProtector reads."""

    def __init__(self, authorization: str | None) -> None:
        self.headers = {"Authorization": authorization} if authorization else {}


class _JWTBearerValidator(BearerTokenValidator):  # type: ignore[misc]
    """Authenticate RFC 6750 bearer JWTs against our keys and claim rules."""

    def __init__(self, settings: TokenSettings) -> None:
        super().__init__()
        self._secret = OctKey.import_key(settings.hs256_secret) if settings.hs256_secret else None
        self._jwks = list(settings.jwks or ())
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
        if alg in _SYMMETRIC:
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
            raise InvalidToken("no key for algorithm")
        kid = header.get("kid")
        if kid is None:
            if len(candidates) > 1:
                raise InvalidToken("missing kid")
            return candidates[0]
        matching = [key for key in candidates if key.kid == kid]
        if len(matching) != 1:
            raise InvalidToken("unknown kid")
        return matching[0]


def _jose_reason(exc: JoseError) -> str:
    if exc.error in {"unsupported_header", "missing_crit_header"}:
        return "unsupported header"
    if exc.error in {"invalid_header_value", "missing_header"}:
        return "bad header"
    if exc.error.startswith(("invalid_key", "unsupported_key", "missing_key")):
        return "key does not fit algorithm"
    return "malformed token"


def _memberships(claims: Mapping[str, Any]) -> dict[str, frozenset[Role]]:
    """Read the tenants claim, dropping unknown roles, empty lists and invalid tenant ids."""
    tenants = claims.get("tenants", {})
    if not isinstance(tenants, dict) or not all(
        isinstance(roles, list) and all(isinstance(role, str) for role in roles)
        for roles in tenants.values()
    ):
        raise InvalidToken("malformed tenants claim")
    memberships: dict[str, frozenset[Role]] = {}
    for tenant, roles in tenants.items():
        try:
            check_tenant(tenant)
        except InvalidContext:
            continue
        known = frozenset(Role(role) for role in roles if role in _KNOWN_ROLES)
        if known:
            memberships[tenant] = known
    return memberships


def _verified(claims: Mapping[str, Any]) -> _Verified:
    sub = claims["sub"]
    try:
        check_request_id(sub)
    except InvalidContext:
        raise InvalidToken("bad sub") from None
    try:
        # exp, nbf and iat were checked as numbers already; an int past float range is not.
        expires_at = float(claims["exp"])
        starts = [float(claims[name]) for name in ("nbf", "iat") if name in claims]
    except OverflowError:
        raise InvalidToken("bad time claim") from None
    auth = AuthContext(sub=sub, memberships=_memberships(claims), expires_at=expires_at)
    return _Verified(auth=auth, valid_from=max(starts, default=-math.inf), expires_at=expires_at)


class TokenVerifier:
    """Turn bearer tokens into AuthContexts, caching each verified token until it expires."""

    def __init__(self, settings: TokenSettings) -> None:
        self.settings = settings
        self._validator = _JWTBearerValidator(settings)
        self._protector = ResourceProtector()
        self._protector.register_token_validator(self._validator)
        # Unlocked: verification runs on the event loop's thread, never across threads.
        self._cache: OrderedDict[bytes, _Verified] = OrderedDict()
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
            _validator, token = self._protector.parse_request_authorization(_Headers(authorization))
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
        claims = self._validator.authenticate_token(token)
        self._validator.validate_token(claims, None, None, now=time.time() if now is None else now)
        verified = _verified(claims)
        self._remember(digest, verified)
        return verified.auth

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

    def _remember(self, digest: bytes, verified: _Verified) -> None:
        if self.settings.cache_size == 0:
            return
        self._cache[digest] = verified
        while len(self._cache) > self.settings.cache_size:
            self._cache.popitem(last=False)


def _digest(token: str) -> bytes:
    """Key a token in the cache by its SHA-256, so the cache holds no usable token."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def mint_token(
    *,
    secret: bytes,
    issuer: str,
    audience: str,
    sub: str,
    tenants: Mapping[str, Sequence[str]],
    ttl: int = 3600,
    now: float | None = None,
    kid: str | None = None,
) -> str:
    """Sign an HS256 token for sub with the given tenant roles, valid for ttl seconds."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"secret must be at least {MIN_SECRET_BYTES} bytes")
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, not {ttl}")
    check_request_id(sub)
    claims_tenants: dict[str, list[str]] = {}
    for tenant, roles in tenants.items():
        check_tenant(tenant)
        unknown = sorted(set(roles) - _KNOWN_ROLES)
        if unknown or not roles:
            raise ValueError(f"roles for {tenant} must be some of {sorted(_KNOWN_ROLES)}")
        claims_tenants[tenant] = list(dict.fromkeys(roles))
    issued_at = int(time.time() if now is None else now)
    header: dict[str, Any] = {"alg": "HS256"}
    if kid is not None:
        header["kid"] = kid
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "iat": issued_at,
        "exp": issued_at + ttl,
        "tenants": claims_tenants,
    }
    return jwt.encode(header, claims, OctKey.import_key(secret), algorithms=["HS256"])


def parse_tenant_roles(spec: str) -> dict[str, list[str]]:
    """Parse one ``t_acme:member,admin`` command-line spec into ``{tenant: roles}``."""
    tenant, sep, role_list = spec.partition(":")
    tenant = tenant.strip()
    roles = [role.strip() for role in role_list.split(",") if role.strip()]
    if not sep or not roles:
        raise ValueError(f"tenant spec {spec!r} must look like t_acme:member,admin")
    try:
        check_tenant(tenant)
    except InvalidContext as exc:
        raise ValueError(str(exc)) from None
    unknown = sorted(set(roles) - _KNOWN_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown} in {spec!r}; use {sorted(_KNOWN_ROLES)}")
    return {tenant: list(dict.fromkeys(roles))}
