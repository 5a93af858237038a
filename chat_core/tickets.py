"""Stream tickets: single-use, short-lived stand-ins for a bearer token in a URL.

Browsers cannot set headers on EventSource or WebSocket, and a token in a URL ends up in
logs and histories. A ticket is a random string worth one connection within 60 s, bound to
the caller, tenant, env and optionally one thread. Where the log is in a database the
tickets are too (events.store.ticket_table): every instance on that database redeems a
ticket any of them issued, once, so a load balancer needs no sticky sessions. A log in
memory keeps its tickets in memory.

Live tickets are bounded three ways, so that one tenant's use never refuses another's: per
caller (a sub in a tenant), per tenant, and per book (its memory, or the shared table). A
ticket holds its place until it is redeemed or its 60 s are up, whichever comes first
(one whose token expires sooner is refused from then on, but keeps its place until then);
a refusal names the quota and when its oldest ticket leaves.

Errors:
    TicketError
    ├── TicketRefused     unknown, used or expired
    └── TicketsExhausted  a quota of live tickets is full: the caller's, the tenant's or the book's
"""

from __future__ import annotations

import enum
import hashlib
import math
import secrets
import time
from collections.abc import Callable

import orjson
from attrs import frozen

from chat_core.context import AuthContext, RequestContext, Role
from events.envelope import Env
from events.store.ticket_table import (
    MemoryTicketTable,
    Ticket,
    TicketLimits,
    TicketsFull,
    TicketTable,
)

__all__ = [
    "CAPACITY",
    "PER_CALLER",
    "TICKET_SECONDS",
    "Quota",
    "StreamTicket",
    "TicketBook",
    "TicketError",
    "TicketRefused",
    "TicketsExhausted",
]

TICKET_SECONDS = 60.0
# A browser opens a few streams at once: 100 live tickets per caller is room to spare. A
# tenant takes at most a tenth of the book unless told otherwise.
PER_CALLER = 100
CAPACITY = 100_000


class Quota(enum.StrEnum):
    """Which bound of live tickets a refusal hit."""

    CALLER = "caller"
    TENANT = "tenant"
    BOOK = "book"


class TicketError(Exception):
    """Base of the ticket errors."""


class TicketRefused(TicketError):
    """The ticket is unknown, already used or expired."""


class TicketsExhausted(TicketError):
    """A quota of live tickets is full: refuse a new one rather than evict someone else's."""

    def __init__(self, quota: Quota, wait: float, message: str) -> None:
        self.quota = quota
        self.retry_after = max(1, math.ceil(wait))
        super().__init__(f"{message}; retry after {self.retry_after} s")


@frozen(kw_only=True)
class StreamTicket:
    """What a ticket stands for: the verified caller, its tenant and env, maybe one thread."""

    auth: AuthContext
    tenant: str
    env: Env
    thread_id: str | None
    expires_at: float

    def context(self, request_id: str) -> RequestContext:
        """Return the RequestContext of one request made with this ticket."""
        return RequestContext(tenant=self.tenant, env=self.env, request_id=request_id)


_UNKNOWN = "unknown or already used stream ticket"


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).digest()


def _limits(capacity: int, per_tenant: int | None, per_caller: int) -> TicketLimits:
    """A tenant takes at most a tenth of the book unless told; a caller at most its tenant's."""
    tenant = max(1, capacity // 10) if per_tenant is None else per_tenant
    return TicketLimits(per_caller=min(per_caller, tenant), per_tenant=tenant, capacity=capacity)


def _new_ticket(
    auth: AuthContext, context: RequestContext, thread_id: str | None, now: float, ttl: float
) -> tuple[str, StreamTicket, float]:
    """Return a new ticket, what it stands for, and when it leaves the book."""
    leaves_at = now + ttl
    expires_at = leaves_at if not auth.expires_at else min(leaves_at, auth.expires_at)
    bound = StreamTicket(
        auth=auth,
        tenant=context.tenant,
        env=context.env,
        thread_id=thread_id,
        expires_at=expires_at,
    )
    return secrets.token_urlsafe(32), bound, leaves_at


def _unexpired(bound: StreamTicket, now: float) -> StreamTicket:
    if bound.expires_at <= now:
        raise TicketRefused("expired stream ticket")
    return bound


def _refusal(
    quota: Quota, auth: AuthContext, tenant: str, limits: TicketLimits, wait: float
) -> TicketsExhausted:
    """Say which quota is full, the same words from the memory book and the table."""
    if quota is Quota.CALLER:
        message = f"{auth.sub} holds {limits.per_caller} live stream tickets in {tenant}"
        message += " (the per-caller quota)"
    elif quota is Quota.TENANT:
        message = f"tenant {tenant} holds {limits.per_tenant} live stream tickets"
        message += " (the per-tenant quota)"
    else:
        message = f"the server holds {limits.capacity} live stream tickets (its capacity)"
    return TicketsExhausted(quota, wait, message)


class TicketBook:
    """Issue and redeem tickets, each good once until it expires, in a table of live ones.

    The table is the log database's (every instance on it shares the tickets) or, by
    default, one in this process's memory.
    """

    def __init__(
        self,
        table: TicketTable | None = None,
        *,
        ttl: float = TICKET_SECONDS,
        capacity: int = CAPACITY,
        per_tenant: int | None = None,
        per_caller: int = PER_CALLER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = MemoryTicketTable() if table is None else table
        self._ttl = ttl
        self.limits = _limits(capacity, per_tenant, per_caller)
        self._clock = clock

    async def issue(
        self, auth: AuthContext, context: RequestContext, thread_id: str | None
    ) -> tuple[str, StreamTicket]:
        """Make a ticket for the caller; it expires in ttl, or with the token if sooner.

        Raise TicketsExhausted when the caller, its tenant or the book holds its quota
        (counted across every instance sharing the table).
        """
        now = self._clock()
        ticket, bound, leaves_at = _new_ticket(auth, context, thread_id, now, self._ttl)
        row = Ticket(
            digest=_digest(ticket),
            tenant=context.tenant,
            caller=auth.sub,
            leaves_at=leaves_at,
            body=_encode(bound),
        )
        try:
            await self._table.issue(row, now=now, limits=self.limits)
        except TicketsFull as full:
            quota = Quota(full.quota)
            wait = full.oldest_leaves_at - now
            raise _refusal(quota, auth, context.tenant, self.limits, wait) from None
        return ticket, bound

    async def redeem(self, ticket: str) -> StreamTicket:
        """Use a ticket up: return what it stands for, else raise TicketRefused (the first
        instance to redeem a ticket has it)."""
        body = await self._table.redeem(_digest(ticket))
        if body is None:
            raise TicketRefused(_UNKNOWN)
        return _unexpired(_decode(body), self._clock())

    def share(self, table: TicketTable) -> None:
        """Keep tickets in table from now on: called at start, before any is issued."""
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    async def close(self) -> None:
        """Release the table's connection."""
        await self._table.close()


def _encode(bound: StreamTicket) -> bytes:
    auth = bound.auth
    return orjson.dumps(
        {
            "sub": auth.sub,
            "memberships": {tenant: sorted(roles) for tenant, roles in auth.memberships.items()},
            "token_expires_at": auth.expires_at,
            "tenant": bound.tenant,
            "env": bound.env.value,
            "thread_id": bound.thread_id,
            "expires_at": bound.expires_at,
        }
    )


def _decode(body: bytes) -> StreamTicket:
    data = orjson.loads(body)
    auth = AuthContext(
        sub=data["sub"],
        memberships={
            tenant: frozenset(Role(role) for role in roles)
            for tenant, roles in data["memberships"].items()
        },
        expires_at=data["token_expires_at"],
    )
    return StreamTicket(
        auth=auth,
        tenant=data["tenant"],
        env=Env(data["env"]),
        thread_id=data["thread_id"],
        expires_at=data["expires_at"],
    )
