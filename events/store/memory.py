"""An in-memory store: a real adapter for tests and `memory://`, gone when the process ends.

It is the group-commit skeleton with lists for tables: each append commits at once, on
the event loop (the write never awaits, so it is atomic), and reads walk the lists.
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from events.codec import EventCodec
from events.envelope import DatasetEvent
from events.search.records import SearchDoc
from events.search.terms import Term
from events.store.group_commit import GroupCommitStore, PendingAppend, decide
from events.store.memory_search import MemoryIndex
from events.store.reads import RowCodec
from events.store.records import EventFilter, IdempotencyRecord, RecordedEvent
from events.store.search_reads import COUNT_CAP

__all__ = ["MemoryEventStore"]


class _AsStored:
    """A row of the memory store is (position, its recorded event)."""

    def __init__(self, _codec: EventCodec) -> None:
        pass

    def decode(self, rows: Sequence[Any]) -> list[RecordedEvent]:
        return [row[1] for row in rows]


@functools.cache
def _codec() -> EventCodec:
    """One codec for every memory store: it keeps events as they are and never uses it."""
    return EventCodec()


def _no_row(_codec: EventCodec, _event: DatasetEvent) -> tuple[Any, ...]:
    """Keep nothing but the event itself."""
    return ()


class MemoryEventStore(GroupCommitStore):
    """Keep the log in lists; every method runs on the event loop, so each append is atomic."""

    # One process appends to this log, so its caches may trust their own appends.
    sole_writer = True
    row_codec = RowCodec(decoder=_AsStored, encode_event=_no_row)

    def __init__(self) -> None:
        super().__init__(codec=_codec(), head=0, group_commit=False)
        self._log: list[RecordedEvent] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._idempotency: dict[str, IdempotencyRecord] = {}
        # The stream names in order, built on the first listing after a new stream appears.
        self._sorted_streams: list[str] | None = None
        self.index = MemoryIndex()

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

    async def probe_write(self) -> None:
        self._check_open()

    async def _write(self, batch: list[PendingAppend]) -> int:
        """Decide and store the batch without awaiting anything: atomic on the loop."""
        versions = {item.stream: len(self._streams.get(item.stream, ())) for item in batch}
        recorded_keys = {
            item.idempotency[0]
            for item in batch
            if item.idempotency is not None and item.idempotency[0] in self._idempotency
        }
        accepted, head = decide(batch, len(self._log), versions, recorded_keys)
        for item in accepted:
            assert isinstance(item.outcome, list)
            if item.outcome and not self._streams.get(item.stream):
                self._sorted_streams = None
            self._log.extend(item.outcome)
            self._streams.setdefault(item.stream, []).extend(item.outcome)
            if item.idempotency is not None:
                record = IdempotencyRecord(
                    key=item.idempotency[0],
                    fingerprint=item.idempotency[1],
                    status=item.idempotency[2],
                    body=item.idempotency[3],
                    created_at=item.idempotency[4],
                )
                self._idempotency[record.key] = record
            if item.index:
                self.index.apply(item.ranked_index())
        return head

    async def clear_index(self) -> None:
        self._check_open()
        self.index.clear()

    async def load_index(self, docs: list[SearchDoc]) -> None:
        self._check_open()
        for doc in docs:
            self.index.put(doc)

    async def index_totals(self) -> tuple[int, int]:
        self._check_open()
        return self.index.totals()

    async def _count_postings(self, scope: int, term: Term) -> int:
        self._check_open()
        return self.index.count(scope, term, COUNT_CAP)

    async def _postings(self, scope: int, term: Term, after: int, limit: int) -> list[int]:
        self._check_open()
        return self.index.postings(scope, term, after, limit)

    async def _holding(self, scope: int, term: Term, keys: Sequence[int]) -> list[int]:
        self._check_open()
        return self.index.holding(scope, term, keys)

    async def _index_docs(self, keys: Sequence[int]) -> list[SearchDoc]:
        self._check_open()
        return self.index.found(keys)

    def _range_query(
        self, event_filter: EventFilter | None, descending: bool
    ) -> tuple[str, Sequence[Any]]:
        """Take the filter and the direction for parameters: _fetch reads them in Python."""
        return "", (event_filter, descending)

    async def _fetch(self, _sql: str, *params: Any) -> list[tuple[int, RecordedEvent]]:
        """Return up to limit (position, event) rows strictly between after and before.

        The parameters are those of a page of read_all: (after, before, event_filter,
        descending, limit).
        """
        self._check_open()
        after, before, event_filter, descending, limit = params
        log = self._log
        upper = min(before - 1, len(log))
        positions = range(upper, after, -1) if descending else range(after + 1, upper + 1)
        rows: list[tuple[int, RecordedEvent]] = []
        for position in positions:
            item = log[position - 1]
            if event_filter is None or event_filter.matches(item.event):
                rows.append((position, item))
                if len(rows) == limit:
                    break
        return rows

    async def _release(self) -> None:
        """Keep the lists: nothing to release."""
