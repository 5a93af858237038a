"""Readiness: whether the store can take a write now, probed at most about once a second.

GET /readyz answers from it. A probe commits a write that leaves nothing behind
(EventStore.probe_write), so a full disk, a read-only database or a lost connection all
show; its outcome is kept for a second, so load balancers polling every instance cost
the store one small commit a second at most, and a burst of polls shares one probe. A
probe slower than its timeout counts as a failure: a store that cannot commit within
seconds cannot take requests either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

__all__ = ["Readiness"]

log = logging.getLogger("transports.http")


class Readiness:
    """Keep the outcome of the latest write probe for fresh_for seconds."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[None]],
        *,
        fresh_for: float = 1.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._fresh_for = fresh_for
        self._timeout = timeout
        self._clock = clock
        self._ready = False
        self._checked_at: float | None = None
        self._running: asyncio.Task[bool] | None = None

    async def ready(self) -> bool:
        """Tell whether the store took the latest probe, probing again once it is stale."""
        checked_at = self._checked_at
        if checked_at is not None and self._clock() - checked_at < self._fresh_for:
            return self._ready
        if self._running is None:
            self._running = asyncio.create_task(self._check(), name="chat-core readiness probe")
        # Shielded: a poller that goes away leaves the probe to the others waiting on it.
        return await asyncio.shield(self._running)

    async def _check(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                await self._probe()
        except Exception as exc:  # whatever keeps the store from writing makes it unready
            log.warning("not ready: the store cannot take a write: %r", exc)
            ready = False
        else:
            ready = True
        self._ready, self._checked_at, self._running = ready, self._clock(), None
        return ready
