"""How live streams behave: heartbeat, per-client buffer, ticket lifetime and quotas."""

from __future__ import annotations

from attrs import frozen

from chat_core.tickets import CAPACITY, PER_CALLER, TICKET_SECONDS

__all__ = ["StreamSettings"]


@frozen(kw_only=True)
class StreamSettings:
    """Stream knobs; the defaults are the contract's, tests shorten them."""

    heartbeat: float = 15.0
    buffer: int = 256
    ticket_seconds: float = TICKET_SECONDS
    # Live tickets in the book, per tenant (None: a tenth of the book) and per caller.
    max_tickets: int = CAPACITY
    tickets_per_tenant: int | None = None
    tickets_per_caller: int = PER_CALLER
