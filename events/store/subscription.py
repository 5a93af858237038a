"""Catch-up-then-live subscriptions over any store that reports its head position."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from events.store.base import EventFilter, RecordedEvent

__all__ = ["HeadNotifier", "follow"]

PAGE = 1000


class HeadNotifier:
    """Hold the newest committed position and wake whoever waits for a later one."""

    def __init__(self, head: int = 0) -> None:
        self.head = head
        self._moved = asyncio.Event()

    def advance(self, position: int) -> None:
        """Record a newly committed position and wake every waiter; call on the loop."""
        if position > self.head:
            self.head = position
            self._moved.set()
            self._moved = asyncio.Event()

    async def wait_beyond(self, position: int) -> None:
        """Return once the head is past position."""
        while self.head <= position:
            await self._moved.wait()


ReadAll = Callable[..., AsyncIterator[RecordedEvent]]


async def follow(
    read_all: ReadAll,
    notifier: HeadNotifier,
    *,
    after_position: int,
    event_filter: EventFilter | None,
) -> AsyncIterator[RecordedEvent]:
    """Yield matching events after a position from the log, then live, never twice or skipped.

    Every position up to the observed head is committed when the head is observed, so
    reading up to it and then waiting beyond it leaves no gap and repeats nothing.
    """
    position = after_position
    while True:
        head = notifier.head
        while position < head:
            upper = min(head, position + PAGE)
            async for item in read_all(
                after_position=position, before_position=upper + 1, event_filter=event_filter
            ):
                yield item
            position = upper
        await notifier.wait_beyond(position)
