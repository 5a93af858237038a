"""Catch-up-then-live subscriptions over any store that reports its head position."""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Sequence

from events.store.records import EventFilter, RecordedEvent

__all__ = ["HeadNotifier", "follow"]

PAGE = 1000
# Committed events a notifier holds for subscribers that are nearly live (up to twice this),
# and the payload bytes they may hold (up to twice this): 2,048 events of the longest
# messages held 90 MiB beside the thread cache's bound before there was a byte budget.
HOLD = 1024
HOLD_BYTES = 8 << 20


class HeadNotifier:
    """Hold the newest committed position and wake whoever waits for a later one.

    A store whose process commits every event itself (SQLite's sole writer) hands each
    commit's events over too; the newest of them are held, so a subscriber that is nearly
    live takes them from here instead of reading back from the store what was just written.
    """

    def __init__(self, head: int = 0, *, hold: int = HOLD, hold_bytes: int = HOLD_BYTES) -> None:
        self.head = head
        self._moved = asyncio.Event()
        self._hold = hold
        self._hold_bytes = hold_bytes
        # Every committed event after _floor is in _held, in position order, and the bytes
        # of its payload at the same index of _sizes.
        self._held: list[RecordedEvent] = []
        self._sizes: list[int] = []
        self._held_bytes = 0
        self._floor = head

    def advance(
        self,
        position: int,
        committed: Sequence[RecordedEvent] | None = None,
        sizes: Sequence[int] = (),
    ) -> None:
        """Record a newly committed position and wake every waiter; call on the loop.

        committed, when given, is what this process committed up to position, in order, and
        sizes the bytes of their payloads. It is held only when its positions run on from
        the head without a gap, so that nothing committed by anyone else can be missing
        from it; otherwise nothing before position is held, and subscribers behind it read
        from the store. Past twice the hold's count or bytes, the newest hold's worth stays.
        """
        if position <= self.head:
            return
        if (
            committed
            and committed[0].position == self.head + 1
            and committed[-1].position == position
            and len(committed) == position - self.head
        ):
            self._held.extend(committed)
            self._sizes.extend(sizes or [0] * len(committed))
            self._held_bytes += sum(sizes)
            if len(self._held) > 2 * self._hold or self._held_bytes > 2 * self._hold_bytes:
                self._let_go(position)
        else:
            self._held.clear()
            self._sizes.clear()
            self._held_bytes = 0
            self._floor = position
        self.head = position
        self._moved.set()
        self._moved = asyncio.Event()

    def _let_go(self, position: int) -> None:
        """Drop the oldest held events until the hold's count and bytes are left at most."""
        dropped = max(0, len(self._held) - self._hold)
        gone = sum(self._sizes[:dropped])
        while dropped < len(self._held) and self._held_bytes - gone > self._hold_bytes:
            gone += self._sizes[dropped]
            dropped += 1
        del self._held[:dropped]
        del self._sizes[:dropped]
        self._held_bytes -= gone
        self._floor = self._held[0].position - 1 if self._held else position

    def held_after(self, position: int) -> list[RecordedEvent] | None:
        """Return every committed event after position, if all of them are held; else None."""
        if position < self._floor:
            return None
        held = self._held
        return held[bisect_right(held, position, key=_position) :]

    async def wait_beyond(self, position: int) -> None:
        """Return once the head is past position."""
        while self.head <= position:
            await self._moved.wait()


def _position(item: RecordedEvent) -> int:
    return item.position


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
        held = notifier.held_after(position)
        if held is not None:
            for item in held:
                if event_filter is None or event_filter.matches(item.event):
                    yield item
                position = item.position
        while position < head:
            upper = min(head, position + PAGE)
            async for item in read_all(
                after_position=position, before_position=upper + 1, event_filter=event_filter
            ):
                yield item
            position = upper
        await notifier.wait_beyond(position)
