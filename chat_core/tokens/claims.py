"""What a verified token's claims say: who the caller is (sub) and its tenant roles.

A sub becomes the actor of every event its caller writes and the author of its messages,
so it is held to what those may be: at most MAX_SUB_CHARS characters, none of them a
control or format character, a surrogate or a line or paragraph separator (Unicode Cc,
Cf, Cs, Zl, Zp: CR, LF, ESC, NUL, bidi overrides, zero-width marks), nor empty or padded.

One error, ``InvalidToken``, covers every failure of a token; its ``token_sent`` says
whether the caller sent a bearer token at all, so the HTTP layer can answer ``Bearer`` alone
or ``Bearer error="invalid_token"`` (RFC 6750, section 3.1). Its ``reason`` is one of a
fixed set of short phrases (``expired``, ``unknown kid``, ``wrong audience``, ...) and never
holds any part of the token, so it may be shown to the caller.

Two kinds say more: ``UnknownKey``, a token no configured key fits (its kid, or its
algorithm's key type, is unknown), and ``KeysOutdated``, the same while the key source may
fetch its keys again: whoever catches it may await ``refetch()`` and verify once more.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from attrs import frozen

from chat_core.context import AuthContext, Role
from events.envelope import InvalidContext, check_request_id, check_tenant

__all__ = [
    "KNOWN_ROLES",
    "MAX_SUB_CHARS",
    "InvalidToken",
    "KeysOutdated",
    "UnknownKey",
    "Verified",
    "sub_problem",
    "verified",
]

KNOWN_ROLES = frozenset(role.value for role in Role)
MAX_SUB_CHARS = 255
_UNFIT_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


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

    @property
    def detail(self) -> str:
        """Return the problem detail that answers this failure."""
        if not self.token_sent:
            return "no bearer token sent"
        return f"a valid bearer token is required: {self.reason}"


def sub_problem(sub: object) -> str | None:
    """Return why a sub cannot name an actor, or None when it can."""
    if not isinstance(sub, str):
        return "bad sub"
    if len(sub) > MAX_SUB_CHARS:
        return f"bad sub: longer than {MAX_SUB_CHARS} characters"
    # isprintable() is False for every unfit character (and for a few fit ones, such as
    # no-break spaces and private-use characters), so most subs are settled by it alone.
    if not sub.isprintable() and any(
        unicodedata.category(char) in _UNFIT_CATEGORIES for char in sub
    ):
        return "bad sub: holds a control character (Unicode Cc, Cf, Cs, Zl or Zp)"
    try:
        check_request_id(sub)
    except InvalidContext:
        return "bad sub"  # empty, or padded with whitespace
    return None


class UnknownKey(InvalidToken):
    """A token that no configured key fits: its kid, or a key of its algorithm, is unknown."""


class KeysOutdated(UnknownKey):
    """A token no key fits, while the keys may be fetched again: ``refetch()``, then retry."""

    def __init__(self, reason: str, refetch: Callable[[], Awaitable[None]]) -> None:
        super().__init__(reason)
        self._refetch = refetch

    async def refetch(self) -> None:
        """Fetch the keys again (one fetch shared by all who wait); verify the token again."""
        await self._refetch()


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
    problem = sub_problem(sub)
    if problem is not None:
        raise InvalidToken(problem)
    try:
        # exp, nbf and iat were checked as numbers already; an int past float range is not.
        expires_at = float(claims["exp"])
        starts = [float(claims[name]) for name in ("nbf", "iat") if name in claims]
    except OverflowError:
        raise InvalidToken("bad time claim") from None
    auth = AuthContext(sub=sub, memberships=_memberships(claims), expires_at=expires_at)
    return Verified(auth=auth, valid_from=max(starts, default=-math.inf), expires_at=expires_at)
