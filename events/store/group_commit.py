"""The store skeleton every backend shares: group commit, the append it carries, shutdown.

Appends queue for one writer task, which commits everything waiting in one transaction,
so concurrent requests share a commit (an fsync on SQLite, a lock hand-off and a round
trip on PostgreSQL). Each append is checked on its own inside that transaction; one that
fails its checks fails alone and the rest commit. After the commit every caller hears of
its own outcome, the writer's counters and observers hear of the transaction, and the
head notifier moves, which wakes subscribers. The reads are the skeleton's too
(reads.PagedReads, which GroupCommitStore extends).

A backend supplies only what is its own: how it writes a batch in one transaction
(`_write`), what closing releases (`_release`), its SQL (`statements`), how a row is
encoded and decoded (`row_codec`), and how it runs one statement. What differed between
the SQLite and PostgreSQL copies this replaces is said by parameters: `max_batch`
(PostgreSQL bounds how long one transaction holds its append lock; SQLite takes all that
wait), `hold_commits` (SQLite's sole writer hands its committed events to the notifier,
so a subscriber that is nearly live takes them from memory; on PostgreSQL other
instances commit too and subscribers read back), and `group_commit` (False commits each
append in its own call: PostgreSQL can, and the memory store, whose write never awaits,
always does).

GroupCommitStore is also the store's port (base.EventStore), so the write half of the
contract is stated here. One module, some 340 lines, for the loop, the append it
carries, the counters it keeps and that contract: they are one concept, and every append
runs through all of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Protocol

import attrs

from events.codec import EventCodec
from events.envelope import DatasetEvent
from events.search.records import IndexChange, IndexPut, SearchDoc, rank_key
from events.store.reads import PagedReads, RowCodec, Statements
from events.store.records import (
    ConcurrencyError,
    EventFilter,
    IdempotencyConflict,
    IdempotencyRecord,
    RecordedEvent,
    StoreClosed,
    StoreError,
    check_batch,
)
from events.store.search_reads import SearchReads
from events.store.subscription import HeadNotifier, follow

__all__ = ["GroupCommitStore", "PendingAppend", "StoreObserver", "WriterStats", "decide"]

# Where the payload is in an encoded row (less its position): both stores' column order.
PAYLOAD_CELL = 11


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
    index: Sequence[IndexChange] = ()
    future: asyncio.Future[list[RecordedEvent]] | None = None
    outcome: list[RecordedEvent] | StoreError | None = None

    def ranked_index(self) -> list[IndexChange]:
        """Return the append's index changes, each document keyed by its event's position.

        Called by a backend inside the transaction, once the append is accepted.
        """
        return [
            IndexPut(offset=change.offset, doc=change.doc, key=key)
            if isinstance(change, IndexPut)
            else change
            for change, key in self.ranked()
        ]

    def ranked(self) -> list[tuple[IndexChange, int]]:
        """Return the append's index changes beside their keys: what ranked_index() tells,
        a document's key apart from its change (0 beside a deletion), no change made anew.
        """
        recorded = self.outcome
        assert isinstance(recorded, list), "only an accepted append changes the index"
        return [
            (change, rank_key(change.doc.words, recorded[change.offset].position))
            if isinstance(change, IndexPut)
            else (change, 0)
            for change in self.index
        ]

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


def decide(
    batch: Sequence[PendingAppend], head: int, versions: dict[str, int], keys: set[str]
) -> tuple[list[PendingAppend], int]:
    """Set each append's outcome as if they ran one after another; return those that fit.

    versions holds the committed version of the batch's streams (a stream missing is at
    0) and keys the batch's idempotency keys already recorded; both are updated with
    what the accepted appends add. Return the accepted appends and the new head.
    """
    accepted: list[PendingAppend] = []
    for item in batch:
        current = versions.get(item.stream, 0)
        try:
            if item.expected_version is not None and item.expected_version != current:
                raise ConcurrencyError(item.stream, item.expected_version, current)
            check_batch(item.stream, item.events, current)
            if item.idempotency is not None:
                key = item.idempotency[0]
                if key in keys:
                    raise IdempotencyConflict(f"idempotency key {key!r} already recorded")
                keys.add(key)
        except StoreError as exc:
            item.outcome = exc
            continue
        item.outcome = [
            RecordedEvent(event=event, position=head + offset)
            for offset, event in enumerate(item.events, start=1)
        ]
        head += len(item.events)
        versions[item.stream] = current + len(item.events)
        accepted.append(item)
    return accepted, head


class GroupCommitStore(PagedReads, SearchReads):
    """An append-only log of DatasetEvents in streams, with one global order.

    Appends go through one writer that commits every waiting append at once; reads go
    in pages. The store's port (base.EventStore) is this class.
    """

    statements: Statements
    row_codec: RowCodec

    def __init__(
        self,
        *,
        codec: EventCodec,
        head: int,
        max_batch: int | None = None,
        hold_commits: bool = False,
        group_commit: bool = True,
    ) -> None:
        self.codec = codec
        self.stats = WriterStats()
        self.group_commit = group_commit
        self.max_batch = max_batch
        rows = self.row_codec
        self._decoder = rows.decoder(codec)
        self._encode_event = rows.encode_event
        self._encode_time = rows.encode_time
        self._decode_time = rows.decode_time
        self._hold_commits = hold_commits
        self._notifier = HeadNotifier(head)
        self._pending: list[PendingAppend] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._closed = False
        # Without group commit each append commits in its own call: no writer task.
        self._writer: asyncio.Task[None] | None = (
            asyncio.get_running_loop().create_task(self._run_writer()) if group_commit else None
        )

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
        index: Sequence[IndexChange] = (),
    ) -> list[RecordedEvent]:
        """Append events durably, all or nothing, if the stream is at expected_version.

        expected_version None appends whatever the version; 0 means the stream must not
        exist. The events' versions must follow on from the stream's version. The append
        queues for the writer and returns once its transaction has committed. index holds
        the search index's changes the events make, written in the same transaction.
        """
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
            index=index,
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

    def subscribe(
        self, *, after_position: int = 0, event_filter: EventFilter | None = None
    ) -> AsyncIterator[RecordedEvent]:
        """Yield every matching event after a position, then each new one as it commits."""
        self._check_open()
        return follow(
            self.read_all, self._notifier, after_position=after_position, event_filter=event_filter
        )

    async def close(self) -> None:
        """Finish pending appends, stop the writer, and release the backend's connections."""
        if self._closing:
            if self._writer is not None:
                await asyncio.shield(self._writer)
            return
        self._closing = True
        self._wakeup.set()
        if self._writer is not None:
            await asyncio.shield(self._writer)
        self._closed = True
        await self._release()

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
        sizes: list[int] = []
        for item in batch:
            item.settle()
            if type(item.outcome) is list:
                committed += item.outcome
                if self._hold_commits:
                    sizes += [len(row[PAYLOAD_CELL]) for row in item.rows]
        self.stats.record_commit(appends=len(batch), events=len(committed), seconds=seconds)
        # Advanced on the loop, after commit: a woken subscriber reads everything up to head,
        # and with held commits one that is nearly live takes them from here.
        self._notifier.advance(head, committed if self._hold_commits else None, sizes)

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

    # What a backend supplies.

    async def _write(self, batch: list[PendingAppend]) -> int:
        """Write what fits of the batch in one transaction, set each outcome, return the head."""
        raise NotImplementedError

    async def purge_idempotency(self, *, before: datetime, limit: int = 1000) -> int:
        """Delete up to limit idempotency records created before a time; return how many.

        Records are derived state (replay rebuilds them from event metadata); the events
        they answered stay in the log.
        """
        raise NotImplementedError

    async def probe_write(self) -> None:
        """Raise unless the store can take a write now: commit one that leaves nothing behind."""
        raise NotImplementedError

    async def clear_index(self) -> None:
        """Delete the whole search index (replay rebuilds it from the log)."""
        raise NotImplementedError

    async def load_index(self, docs: list[SearchDoc]) -> None:
        """Insert ranked documents into the search index."""
        raise NotImplementedError

    async def index_totals(self) -> tuple[int, int]:
        """Return how many documents and postings the search index holds."""
        raise NotImplementedError

    async def _release(self) -> None:
        """Close the backend's connections; the writer has stopped."""
        raise NotImplementedError
