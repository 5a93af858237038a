"""Who is asking and where: the RequestContext and AuthContext every command carries.

A request's events carry its ``trace_id``: the trace id of a well-formed W3C Trace Context
``traceparent`` header (see trace_id_of), else the request id.
"""

from __future__ import annotations

import enum
import os
import random
import re
from collections.abc import Mapping
from types import MappingProxyType

import attrs
from attrs import field, frozen

from chat_core.errors import Forbidden
from events.envelope import Env, check_request_id, check_tenant

__all__ = [
    "AuthContext",
    "RequestContext",
    "Role",
    "has_role",
    "may_post",
    "new_request_id",
    "require_poster",
    "require_role",
    "trace_id_of",
]

_IDS = random.Random()
# A forked child starts from its parent's generator state: seed it afresh there, or both
# would hand out the same request ids (random reseeds only its own module-level instance).
os.register_at_fork(after_in_child=_IDS.seed)
# The version (4) and variant (RFC 4122) bits of a random UUID.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)
# W3C Trace Context, version 00: version, trace id, parent id, flags; lowercase hex only.
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16


class Role(enum.StrEnum):
    """What a member may do in a tenant; admin and agent each include member."""

    MEMBER = "member"
    ADMIN = "admin"
    # The service identity of the product's assistants: writes every message role.
    AGENT = "agent"


# Who may post a message of each role (API.md, "Roles"); any other role is nobody's.
_POSTERS: Mapping[str, frozenset[Role]] = MappingProxyType(
    {
        "user": frozenset({Role.MEMBER, Role.ADMIN, Role.AGENT}),
        "assistant": frozenset({Role.AGENT}),
        "tool": frozenset({Role.AGENT}),
        "system": frozenset({Role.AGENT, Role.ADMIN}),
    }
)


def _tenant(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    check_tenant(value)


def _request_id(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    check_request_id(value)


def _env(_inst: object, _attr: attrs.Attribute[Env], value: Env) -> None:
    if not isinstance(value, Env):
        raise ValueError(f"env {value!r} is not an Env")


def _same_as_request_id(context: RequestContext) -> str:
    return context.request_id


@frozen(kw_only=True)
class RequestContext:
    """The tenant, env, request id and trace id of one request; the trace id is the
    request id unless the request names a trace of its own."""

    tenant: str = field(validator=_tenant)
    env: Env = field(validator=_env)
    request_id: str = field(validator=_request_id)
    trace_id: str = field(
        default=attrs.Factory(_same_as_request_id, takes_self=True), validator=_request_id
    )


def trace_id_of(traceparent: str | None) -> str | None:
    """Return the trace id of a well-formed ``traceparent`` header (version 00), else None.

    Well formed: ``00-<32 hex>-<16 hex>-<2 hex>`` in lowercase, neither id all zeros (W3C
    Trace Context, section 3.2). Anything else names no trace, and is ignored.
    """
    if traceparent is None:
        return None
    found = _TRACEPARENT.fullmatch(traceparent.strip(" \t"))
    if found is None or found.group(1) == _ZERO_TRACE or found.group(2) == _ZERO_PARENT:
        return None
    return found.group(1)


def _freeze_memberships(
    value: Mapping[str, frozenset[Role]],
) -> Mapping[str, frozenset[Role]]:
    return MappingProxyType({tenant: frozenset(roles) for tenant, roles in value.items() if roles})


@frozen(kw_only=True)
class AuthContext:
    """The verified caller: its subject and its roles per tenant."""

    sub: str = field(validator=_request_id)
    memberships: Mapping[str, frozenset[Role]] = field(converter=_freeze_memberships)
    expires_at: float = 0.0


def has_role(auth: AuthContext, tenant: str, role: Role = Role.MEMBER) -> bool:
    """Decide whether the caller holds role in tenant (every role counts as member)."""
    roles = auth.memberships.get(tenant)
    if not roles:
        return False
    return role is Role.MEMBER or role in roles


def may_post(auth: AuthContext, tenant: str, message_role: str) -> bool:
    """Decide whether the caller may post a message of message_role in tenant."""
    roles = auth.memberships.get(tenant)
    return roles is not None and not roles.isdisjoint(_POSTERS.get(message_role, ()))


def require_poster(context: RequestContext, auth: AuthContext, message_role: str) -> None:
    """Raise Forbidden unless the caller may post a message of message_role here."""
    if not may_post(auth, context.tenant, message_role):
        allowed = sorted(role.value for role in _POSTERS.get(message_role, ()))
        raise Forbidden(
            f"a {message_role} message needs the {' or '.join(allowed)} role"
            f" in tenant {context.tenant}"
        )


def new_request_id() -> str:
    """Make a random (version 4) UUID for a request that brought no id of its own.

    A request id must be unique, not secret, so it is drawn from a seeded PRNG rather than
    uuid4's os.urandom, a system call on every request; a forked child reseeds it.
    """
    text = (_IDS.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET).to_bytes(16).hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def require_role(context: RequestContext, auth: AuthContext, role: Role = Role.MEMBER) -> None:
    """Raise Forbidden unless the caller holds role in the request's tenant."""
    if not has_role(auth, context.tenant, role):
        raise Forbidden(f"this action needs the {role.value} role in tenant {context.tenant}")
