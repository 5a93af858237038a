"""Mint HS256 tokens (for dev mode and tests) and parse the command line's tenant specs."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey

from chat_core.tokens.claims import KNOWN_ROLES, sub_problem
from chat_core.tokens.sources import MIN_SECRET_BYTES
from events.envelope import InvalidContext, check_tenant

__all__ = ["mint_token", "parse_tenant_roles"]


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
    problem = sub_problem(sub)
    if problem is not None:
        raise ValueError(f"{problem}: the verifier would refuse the token")
    claims_tenants: dict[str, list[str]] = {}
    for tenant, roles in tenants.items():
        check_tenant(tenant)
        unknown = sorted(set(roles) - KNOWN_ROLES)
        if unknown or not roles:
            raise ValueError(f"roles for {tenant} must be some of {sorted(KNOWN_ROLES)}")
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
    unknown = sorted(set(roles) - KNOWN_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown} in {spec!r}; use {sorted(KNOWN_ROLES)}")
    return {tenant: list(dict.fromkeys(roles))}
