"""The store skeleton SQLite and PostgreSQL share: group commit, paged reads, shutdown.

Appends queue for one writer task, which commits everything waiting in one transaction,
so concurrent requests share a commit (an fsync on SQLite, a lock hand-off and a round
trip on PostgreSQL). Each append is checked on its own inside that transaction; one that
fails its checks fails alone and the rest commit. After the commit every caller hears of
its own outcome, the writer's counters and observers hear of the transaction, and the
head notifier moves, which wakes subscribers.

A backend supplies only what is its own: how it writes a batch in one transaction
(`_write`), how it runs a statement (`_fetch`, `_fetchrow`, `_fetch_decoded`), its SQL,
how a row is encoded and decoded, and what closing releases (`_release`). What differed
between the two copies this replaces is said by parameters: `max_batch` (PostgreSQL
bounds how long one transaction holds its append lock; SQLite takes all that wait),
`hold_commits` (SQLite's sole writer hands its committed events to the notifier, so a
subscriber that is nearly live takes them from memory; on PostgreSQL other instances
commit too and subscribers read back), and `group_commit` (PostgreSQL can commit each
append in its own transaction instead). The writer's counters (`WriterStats`) and the
pending append itself are part of this loop and live here with it.

One module for the loop, the append it carries, and the counters it keeps: they are one
concept, and a request's append runs through all of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import attrs

from events.codec import EventCodec
from events.envelope import DatasetEvent
from events.store.base import (
    DECODE_CHUNK,
    EventFilter,
    IdempotencyRecord,
    RecordedEvent,
    StoreClosed,
    StoreError,
)
from events.store.subscription import HeadNotifier, follow

__all__ = ["GroupCommitStore", "PendingAppend", "Statements", "StoreObserver", "WriterStats"]

Row = Sequence[Any]
# Rows per read of a page; read_all decodes them DECODE_CHUNK at a time.
PAGE = 1000
# Above every position a store hands out: the upper bound of an open-ended read.
_NO_UPPER = 1 << 62

log = logging.getLogger("events.store")


@attrs.define(kw_only=True)
class PendingAppend:
    """One caller's append waiting for the writer, and what became of it.

    The backend's `_write` sets `outcome`: the recorded events, or the StoreError that
    refused them. A caller waiting on `future` (group commit) hears of it through settle().
    """

    stream: str
    events: Sequence[DatasetEvent]
    rows: list[tuple[Any, ...]]
    expected_version: int | None
    idempotency: tuple[Any, ...] | None
    future: asyncio.Future[list[RecordedEvent]] | None = None
    outcome: list[RecordedEvent] | StoreError | None = None

    def result(self) -> list[RecordedEvent]:
        """Return the recorded events, or raise the error that refused them."""
        if isinstance(self.outcome, StoreError):
            raise self.outcome
        return self.outcome or []

    def settle(self) -> None:
        """Answer the waiting caller with the outcome, once."""
        future = self.future
        if future is None or future.done():
            return
        if isinstance(self.outcome, StoreError):
            future.set_exception(self.outcome)
        else:
            future.set_result(self.outcome or [])


class StoreObserver(Protocol):
    """Hear of each committed transaction and each finished append."""

    def committed(self, *, appends: int, events: int, seconds: float) -> None:
        """Take one transaction: how many appends it grouped, their events, and its time."""

    def appended(self, *, events: int, seconds: float) -> None:
        """Take one append: its events and the time from its call to its commit."""


@attrs.define
class WriterStats:
    """How many transactions the writer committed for how many appends and events.

    The store knows nothing of metrics libraries: a transport registers an observer and
    turns what it hears into whatever it exports.
    """

    commits: int = 0
    appends: int = 0
    events: int = 0
    observers: list[StoreObserver] = attrs.field(factory=list, eq=False, repr=False)

    def record_commit(self, *, appends: int, events: int, seconds: float) -> None:
        """Count a committed transaction and tell every observer."""
        self.commits += 1
        self.appends += appends
        self.events += events
        for observer in self.observers:
            try:
                observer.committed(appends=appends, events=events, seconds=seconds)
            except Exception:
                log.exception("a store observer failed on a commit")

    def record_append(self, *, events: int, seconds: float) -> None:
        """Tell every observer an append has committed."""
        for observer in self.observers:
            try:
                observer.appended(events=events, seconds=seconds)
            except Exception:
                log.exception("a store observer failed on an append")


@attrs.frozen(kw_only=True)
class Statements:
    """A backend's SQL for the reads the skeleton runs, in its own placeholders.

    `range_query(event_filter, descending)` returns the SELECT of a page of the log and
    the filter's parameters; its parameters are (after, before, *the filter's, limit).
    """

    head: str
    stream_version: str
    read_stream: str
    streams_first: str
    streams_after: str
    idempotency: str
    range_query: Callable[..., tuple[str, list[Any]]]
    # What LIMIT takes to mean no limit.
    no_limit: int | None


class RowDecoding(Protocol):
    """A backend's row decoder."""

    def decode(self, rows: Sequence[Any]) -> list[RecordedEvent]:
        """Return the recorded events the rows hold, in their order."""
        ...


class GroupCommitStore:
    """Append through one writer that commits every waiting append at once; read in pages."""

    statements: Statements

    def __init__(
        self,
        *,
        codec: EventCodec,
        head: int,
        decoder: RowDecoding,
        encode_event: Callable[[EventCodec, DatasetEvent], tuple[Any, ...]],
        encode_time: Callable[[datetime], Any] | None = None,
        decode_time: Callable[[Any], datetime] | None = None,
        max_batch: int | None = None,
        hold_commits: bool = False,
        group_commit: bool = True,
    ) -> None:
        self.codec = codec
        self.stats = WriterStats()
        self.group_commit = group_commit
        self.max_batch = max_batch
        self._decoder = decoder
        self._encode_event = encode_event
        self._encode_time = encode_time
        self._decode_time = decode_time
        self._hold_commits = hold_commits
        self._notifier = HeadNotifier(head)
        self._pending: list[PendingAppend] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._closed = False
        self._writer = asyncio.get_running_loop().create_task(self._run_writer())

    @property
    def notifier(self) -> HeadNotifier:
        """Return what wakes subscribers when the head moves."""
        return self._notifier

    async def append(
        self,
        stream: str,
        events: Sequence[DatasetEvent],
        expected_version: int | None,
        *,
        idempotency: IdempotencyRecord | None = None,
    ) -> list[RecordedEvent]:
        """Queue the append for the writer and return once its transaction has committed."""
        if self._closing:
            raise StoreClosed("the store is closed")
        events = list(events)
        codec = self.codec
        encode = self._encode_event
        item = PendingAppend(
            stream=stream,
            events=events,
            rows=[encode(codec, event) for event in events],
            expected_version=expected_version,
            idempotency=None if idempotency is None else self._idempotency_row(idempotency),
        )
        started = time.perf_counter()
        if self.group_commit:
            future: asyncio.Future[list[RecordedEvent]] = asyncio.get_running_loop().create_future()
            item.future = future
            self._pending.append(item)
            self._wakeup.set()
            recorded = await future
        else:
            await self._commit([item])
            recorded = item.result()
        self.stats.record_append(events=len(events), seconds=time.perf_counter() - started)
        return recorded

    async def stream_version(self, stream: str) -> int:
        """Return the stream's newest version, 0 when it has none."""
        row = await self._fetchrow(self.statements.stream_version, stream)
        return int(row[0])

    async def read_stream(
        self, stream: str, *, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        """Return the stream's events after a version, in version order."""
        sql = self.statements
        limit_param = sql.no_limit if limit is None else limit
        return await self._fetch_decoded(sql.read_stream, stream, after_version, limit_param)

    async def list_streams(self, *, after: str | None = None, limit: int = 1000) -> list[str]:
        """Return stream names after a name, in order, from the (stream, version) index.

        Each backend walks that unique index in order from after (see its statements), so a
        page costs its own streams' index entries, never a sort or a scan of the table.
        """
        self._check_open()
        if limit < 1:
            return []
        if after is None:
            rows = await self._fetch(self.statements.streams_first, limit)
        else:
            rows = await self._fetch(self.statements.streams_after, after, limit)
        return [row[0] for row in rows]

    async def read_all(
        self,
        *,
        after_position: int = 0,
        before_position: int | None = None,
        event_filter: EventFilter | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> AsyncIterator[RecordedEvent]:
        """Yield matching events page by page, so memory stays flat however long the log."""
        decode = self._decoder.decode
        pages = self._pages(after_position, before_position, event_filter, limit, descending)
        async for rows in pages:
            for start in range(0, len(rows), DECODE_CHUNK):
                for item in decode(rows[start : start + DECODE_CHUNK]):
                    yield item

    def subscribe(
        self, *, after_position: int = 0, event_filter: EventFilter | None = None
    ) -> AsyncIterator[RecordedEvent]:
        """Yield matching events after a position, then each new one as it commits."""
        self._check_open()
        return follow(
            self.read_all, self._notifier, after_position=after_position, event_filter=event_filter
        )

    async def head_position(self) -> int:
        """Return the newest committed position."""
        row = await self._fetchrow(self.statements.head)
        return int(row[0])

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """Return the idempotency record stored under key, if any."""
        row = await self._fetchrow(self.statements.idempotency, key)
        if row is None:
            return None
        key, fingerprint, status, body, created_at = row
        decode_time = self._decode_time
        return IdempotencyRecord(
            key=key,
            fingerprint=fingerprint,
            status=status,
            body=bytes(body),
            created_at=created_at if decode_time is None else decode_time(created_at),
        )

    async def ping(self) -> None:
        """Run the cheapest query there is."""
        await self._fetchrow("SELECT 1")

    async def close(self) -> None:
        """Commit what is pending, stop the writer, and release the backend's connections."""
        if self._closing:
            await asyncio.shield(self._writer)
            return
        self._closing = True
        self._wakeup.set()
        await asyncio.shield(self._writer)
        self._closed = True
        await self._release()

    async def _pages(
        self,
        after_position: int,
        before_position: int | None,
        event_filter: EventFilter | None,
        limit: int | None,
        descending: bool,
    ) -> AsyncIterator[Sequence[Row]]:
        """Yield the rows between two positions that the filter matches, PAGE at a time.

        Each page starts after the last row of the one before, by position, so a page
        costs an index search however far into the log it is.
        """
        self._check_open()
        sql, params = self.statements.range_query(event_filter, descending=descending)
        lower = max(after_position, 0)
        upper = _NO_UPPER if before_position is None else before_position
        remaining = limit
        while lower + 1 < upper and (remaining is None or remaining > 0):
            size = PAGE if remaining is None else min(PAGE, remaining)
            rows = await self._fetch(sql, lower, upper, *params, size)
            if rows:
                yield rows
            if len(rows) < size:
                return
            if remaining is not None:
                remaining -= len(rows)
            if descending:
                upper = rows[-1][0]
            else:
                lower = rows[-1][0]

    async def _run_writer(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending
                cap = self.max_batch
                if cap is not None and len(batch) > cap:
                    batch, self._pending = batch[:cap], batch[cap:]
                else:
                    self._pending = []
                await self._commit(batch)
            if self._closing and not self._pending:
                return

    async def _commit(self, batch: list[PendingAppend]) -> None:
        """Write a batch in one transaction, answer its callers, and move the head.

        A transaction that does not commit (a lost connection, a full disk) fails every
        append in it.
        """
        started = time.perf_counter()
        try:
            head = await self._write(batch)
        except Exception as exc:
            error = StoreError(f"the transaction did not commit: {exc!r}")
            for item in batch:
                item.outcome = error
                item.settle()
            return
        seconds = time.perf_counter() - started
        committed: list[RecordedEvent] = []
        for item in batch:
            item.settle()
            if type(item.outcome) is list:
                committed += item.outcome
        self.stats.record_commit(appends=len(batch), events=len(committed), seconds=seconds)
        # Advanced on the loop, after commit: a woken subscriber reads everything up to head,
        # and with held commits one that is nearly live takes them from here.
        self._notifier.advance(head, committed if self._hold_commits else None)

    def _idempotency_row(self, record: IdempotencyRecord) -> tuple[Any, ...]:
        created_at = record.created_at
        encode_time = self._encode_time
        return (
            record.key,
            record.fingerprint,
            record.status,
            record.body,
            created_at if encode_time is None else encode_time(created_at),
        )

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the store is closed")

    # What a backend supplies.

    async def _write(self, batch: list[PendingAppend]) -> int:
        """Write what fits of the batch in one transaction, set each outcome, return the head."""
        raise NotImplementedError

    async def _fetch(self, sql: str, *params: Any) -> Sequence[Row]:
        """Return the rows of a read; raise StoreClosed once the store is closed."""
        raise NotImplementedError

    async def _fetchrow(self, sql: str, *params: Any) -> Any:
        """Return the first row of a read, or None; raise StoreClosed once closed."""
        raise NotImplementedError

    async def _fetch_decoded(self, sql: str, *params: Any) -> list[RecordedEvent]:
        """Return the events a read's rows hold."""
        raise NotImplementedError

    async def _release(self) -> None:
        """Close the backend's connections; the writer has stopped."""
        raise NotImplementedError
