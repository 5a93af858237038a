"""An in-memory store: a real adapter for tests and `memory://`, gone when the process ends."""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from events.envelope import DatasetEvent
from events.store.base import (
    ConcurrencyError,
    EventFilter,
    IdempotencyConflict,
    IdempotencyRecord,
    RecordedEvent,
    StoreClosed,
    check_batch,
)
from events.store.group_commit import WriterStats
from events.store.subscription import HeadNotifier, follow

__all__ = ["MemoryEventStore"]


class MemoryEventStore:
    """Keep the log in lists; every method runs on the event loop, so each append is atomic."""

    # One process appends to this log, so its caches may trust their own appends.
    sole_writer = True

    def __init__(self) -> None:
        self._log: list[RecordedEvent] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._idempotency: dict[str, IdempotencyRecord] = {}
        # The stream names in order, built on the first listing after a new stream appears.
        self._sorted_streams: list[str] | None = None
        self._notifier: HeadNotifier | None = None
        self._closed = False
        self.stats = WriterStats()

    @property
    def notifier(self) -> HeadNotifier:
        if self._notifier is None:
            self._notifier = HeadNotifier(len(self._log))
        return self._notifier

    async def append(
        self,
        stream: str,
        events: Sequence[DatasetEvent],
        expected_version: int | None,
        *,
        idempotency: IdempotencyRecord | None = None,
    ) -> list[RecordedEvent]:
        self._check_open()
        started = time.perf_counter()
        current = len(self._streams.get(stream, ()))
        if expected_version is not None and expected_version != current:
            raise ConcurrencyError(stream, expected_version, current)
        check_batch(stream, events, current)
        if idempotency is not None and idempotency.key in self._idempotency:
            raise IdempotencyConflict(f"idempotency key {idempotency.key!r} already recorded")
        start = len(self._log)
        recorded = [RecordedEvent(event=e, position=start + i) for i, e in enumerate(events, 1)]
        self._log.extend(recorded)
        if recorded and not self._streams.get(stream):
            self._sorted_streams = None
        self._streams.setdefault(stream, []).extend(recorded)
        if idempotency is not None:
            self._idempotency[idempotency.key] = idempotency
        self.notifier.advance(len(self._log))
        seconds = time.perf_counter() - started
        self.stats.record_commit(appends=1, events=len(recorded), seconds=seconds)
        self.stats.record_append(events=len(recorded), seconds=seconds)
        return recorded

    async def stream_version(self, stream: str) -> int:
        self._check_open()
        return len(self._streams.get(stream, ()))

    async def read_stream(
        self, stream: str, *, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        self._check_open()
        items = self._streams.get(stream, [])
        end = None if limit is None else after_version + limit
        return items[after_version:end]

    async def list_streams(self, *, after: str | None = None, limit: int = 1000) -> list[str]:
        self._check_open()
        if limit < 1:
            return []
        if self._sorted_streams is None:
            self._sorted_streams = sorted(name for name, items in self._streams.items() if items)
        start = 0 if after is None else bisect_right(self._sorted_streams, after)
        return self._sorted_streams[start : start + limit]

    async def read_all(
        self,
        *,
        after_position: int = 0,
        before_position: int | None = None,
        event_filter: EventFilter | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> AsyncIterator[RecordedEvent]:
        self._check_open()
        upper = (
            len(self._log) if before_position is None else min(before_position - 1, len(self._log))
        )
        lower = max(after_position, 0)
        positions = range(upper, lower, -1) if descending else range(lower + 1, upper + 1)
        count = 0
        for position in positions:
            if limit is not None and count >= limit:
                return
            item = self._log[position - 1]
            if event_filter is None or event_filter.matches(item.event):
                count += 1
                yield item

    def subscribe(
        self, *, after_position: int = 0, event_filter: EventFilter | None = None
    ) -> AsyncIterator[RecordedEvent]:
        self._check_open()
        return follow(
            self.read_all,
            self.notifier,
            after_position=after_position,
            event_filter=event_filter,
        )

    async def head_position(self) -> int:
        self._check_open()
        return len(self._log)

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        self._check_open()
        return self._idempotency.get(key)

    async def purge_idempotency(self, *, before: datetime, limit: int = 1000) -> int:
        self._check_open()
        old = [key for key, record in self._idempotency.items() if record.created_at < before]
        for key in old[:limit]:
            del self._idempotency[key]
        return min(len(old), limit)

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the store is closed")
