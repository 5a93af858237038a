"""What a verified token's claims say: who the caller is (sub) and its tenant roles.

One error, ``InvalidToken``, covers every failure of a token; its ``token_sent`` says
whether the caller sent a bearer token at all, so the HTTP layer can answer ``Bearer`` alone
or ``Bearer error="invalid_token"`` (RFC 6750, section 3.1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from chat_core.context import AuthContext, Role
from events.envelope import InvalidContext, check_request_id, check_tenant

__all__ = ["KNOWN_ROLES", "InvalidToken", "Verified", "verified"]

KNOWN_ROLES = frozenset(role.value for role in Role)


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


@frozen(kw_only=True)
class Verified:
    """A verified token's caller and the window in which it stays valid."""

    auth: AuthContext
    valid_from: float
    expires_at: float


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
        known = frozenset(Role(role) for role in roles if role in KNOWN_ROLES)
        if known:
            memberships[tenant] = known
    return memberships


def verified(claims: Mapping[str, Any]) -> Verified:
    """Return the caller and validity window of claims whose signature and times passed."""
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
    return Verified(auth=auth, valid_from=max(starts, default=-math.inf), expires_at=expires_at)
