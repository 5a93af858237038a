"""Stream tickets: single-use, short-lived stand-ins for a bearer token in a URL.

Browsers cannot set headers on EventSource or WebSocket, and a token in a URL ends up in
logs and histories. A ticket is a random string worth one connection within 60 s, bound to
the caller, tenant, env and optionally one thread. The book lives in the process's memory:
behind a load balancer a ticket must be redeemed on the instance that issued it (sticky
sessions for the ticket and the stream), since signing tickets would still need shared
state to make them single use.

Live tickets are bounded three ways, so that one tenant's use never refuses another's: per
caller (a sub in a tenant), per tenant, and per book (its memory). A ticket holds its
place until it is redeemed or its 60 s are up, whichever comes first (one whose token
expires sooner is refused from then on, but keeps its place until then); a refusal names
the quota and when its oldest ticket leaves.

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
from collections import OrderedDict
from collections.abc import Callable

from attrs import frozen

from chat_core.context import AuthContext, RequestContext
from events.envelope import Env

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


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).digest()


# The live tickets under one quota, oldest first: digest -> when it leaves the book.
_Live = OrderedDict[bytes, float]


class TicketBook:
    """Issue and redeem tickets; each is good once, until it expires."""

    def __init__(
        self,
        *,
        ttl: float = TICKET_SECONDS,
        capacity: int = CAPACITY,
        per_tenant: int | None = None,
        per_caller: int = PER_CALLER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._per_tenant = max(1, capacity // 10) if per_tenant is None else per_tenant
        self._per_caller = min(per_caller, self._per_tenant)
        self._clock = clock
        # Keyed by digest so the book holds nothing a memory dump could replay; the oldest
        # come first, so purging expired ones stops at the first live one.
        self._tickets: OrderedDict[bytes, tuple[StreamTicket, float]] = OrderedDict()
        self._by_tenant: dict[str, _Live] = {}
        self._by_caller: dict[tuple[str, str], _Live] = {}

    def __len__(self) -> int:
        return len(self._tickets)

    def issue(
        self, auth: AuthContext, context: RequestContext, thread_id: str | None
    ) -> tuple[str, StreamTicket]:
        """Make a ticket for the caller; it expires in ttl, or with the token if sooner.

        Raise TicketsExhausted when the caller, its tenant or the book holds its quota.
        """
        now = self._clock()
        self._forget_expired(now)
        tenant = context.tenant
        caller = self._by_caller.get((tenant, auth.sub))
        if caller is not None and len(caller) >= self._per_caller:
            message = f"{auth.sub} holds {self._per_caller} live stream tickets in {tenant}"
            raise self._full(Quota.CALLER, caller, now, f"{message} (the per-caller quota)")
        held = self._by_tenant.get(tenant)
        if held is not None and len(held) >= self._per_tenant:
            message = f"tenant {tenant} holds {self._per_tenant} live stream tickets"
            raise self._full(Quota.TENANT, held, now, f"{message} (the per-tenant quota)")
        if len(self._tickets) >= self._capacity:
            message = f"the server holds {self._capacity} live stream tickets (its capacity)"
            first_leaves = next(iter(self._tickets.values()))[1]
            raise TicketsExhausted(Quota.BOOK, first_leaves - now, message)
        leaves_at = now + self._ttl
        expires_at = leaves_at if not auth.expires_at else min(leaves_at, auth.expires_at)
        ticket = secrets.token_urlsafe(32)
        bound = StreamTicket(
            auth=auth, tenant=tenant, env=context.env, thread_id=thread_id, expires_at=expires_at
        )
        digest = _digest(ticket)
        self._tickets[digest] = (bound, leaves_at)
        self._by_tenant.setdefault(tenant, OrderedDict())[digest] = leaves_at
        self._by_caller.setdefault((tenant, auth.sub), OrderedDict())[digest] = leaves_at
        return ticket, bound

    def redeem(self, ticket: str) -> StreamTicket:
        """Use a ticket up: return what it stands for, else raise TicketRefused."""
        digest = _digest(ticket)
        entry = self._tickets.pop(digest, None)
        if entry is None:
            raise TicketRefused("unknown or already used stream ticket")
        bound = entry[0]
        self._release(digest, bound)
        if bound.expires_at <= self._clock():
            raise TicketRefused("expired stream ticket")
        return bound

    @staticmethod
    def _full(quota: Quota, live: _Live, now: float, message: str) -> TicketsExhausted:
        return TicketsExhausted(quota, next(iter(live.values())) - now, message)

    def _forget_expired(self, now: float) -> None:
        while self._tickets:
            digest, (oldest, leaves_at) = next(iter(self._tickets.items()))
            if leaves_at > now:
                break
            del self._tickets[digest]
            self._release(digest, oldest)

    def _release(self, digest: bytes, bound: StreamTicket) -> None:
        """Free a ticket's place in its tenant's and its caller's quotas."""
        held = self._by_tenant[bound.tenant]
        del held[digest]
        if not held:
            del self._by_tenant[bound.tenant]
        caller = (bound.tenant, bound.auth.sub)
        own = self._by_caller[caller]
        del own[digest]
        if not own:
            del self._by_caller[caller]
