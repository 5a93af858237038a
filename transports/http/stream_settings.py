"""How live streams behave: heartbeat, per-client buffer and ticket lifetime."""

from __future__ import annotations

from attrs import frozen

from chat_core.tickets import TICKET_SECONDS

__all__ = ["StreamSettings"]


@frozen(kw_only=True)
class StreamSettings:
    """Stream knobs; the defaults are the contract's, tests shorten them."""

    heartbeat: float = 15.0
    buffer: int = 256
    ticket_seconds: float = TICKET_SECONDS
    max_tickets: int = 100_000
