"""Stream tickets: single-use, short-lived stand-ins for a bearer token in a URL.

Browsers cannot set headers on EventSource or WebSocket, and a token in a URL ends up in
logs and histories. A ticket is a random string worth one connection within 60 s, bound to
the caller, tenant, env and optionally one thread. The book lives in the process's memory:
behind a load balancer a ticket must be redeemed on the instance that issued it (sticky
sessions for the ticket and the stream), since signing tickets would still need shared
state to make them single use.

Errors:
    TicketError
    ├── TicketRefused     unknown, used or expired
    └── TicketsExhausted  the book is full of live tickets
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from attrs import frozen

from chat_core.context import AuthContext, RequestContext
from events.envelope import Env

__all__ = [
    "TICKET_SECONDS",
    "StreamTicket",
    "TicketBook",
    "TicketError",
    "TicketRefused",
    "TicketsExhausted",
]

TICKET_SECONDS = 60.0


class TicketError(Exception):
    """Base of the ticket errors."""


class TicketRefused(TicketError):
    """The ticket is unknown, already used or expired."""


class TicketsExhausted(TicketError):
    """Too many live tickets: refuse a new one rather than evict someone else's."""


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


class TicketBook:
    """Issue and redeem tickets; each is good once, until it expires."""

    def __init__(
        self,
        *,
        ttl: float = TICKET_SECONDS,
        capacity: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._clock = clock
        # Keyed by digest so the book holds nothing a memory dump could replay; the oldest
        # come first, so purging expired ones stops at the first live one.
        self._tickets: OrderedDict[bytes, StreamTicket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tickets)

    def issue(
        self, auth: AuthContext, context: RequestContext, thread_id: str | None
    ) -> tuple[str, StreamTicket]:
        """Make a ticket for the caller; it expires in ttl, or with the token if sooner."""
        now = self._clock()
        self._forget_expired(now)
        if len(self._tickets) >= self._capacity:
            raise TicketsExhausted("too many stream tickets are outstanding; retry shortly")
        expires_at = now + self._ttl
        if auth.expires_at:
            expires_at = min(expires_at, auth.expires_at)
        ticket = secrets.token_urlsafe(32)
        bound = StreamTicket(
            auth=auth,
            tenant=context.tenant,
            env=context.env,
            thread_id=thread_id,
            expires_at=expires_at,
        )
        self._tickets[_digest(ticket)] = bound
        return ticket, bound

    def redeem(self, ticket: str) -> StreamTicket:
        """Use a ticket up: return what it stands for, else raise TicketRefused."""
        bound = self._tickets.pop(_digest(ticket), None)
        if bound is None:
            raise TicketRefused("unknown or already used stream ticket")
        if bound.expires_at <= self._clock():
            raise TicketRefused("expired stream ticket")
        return bound

    def _forget_expired(self, now: float) -> None:
        while self._tickets:
            digest, oldest = next(iter(self._tickets.items()))
            if oldest.expires_at > now:
                break
            del self._tickets[digest]
