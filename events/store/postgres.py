"""The PostgreSQL event store: several server instances share one log through one database.

Global order without the classic gap. With a sequence, a transaction can commit position
11 while another still holds 10 uncommitted; a reader at 9 then sees 11, moves on, and
never sees 10. Here each append transaction takes one transaction-level advisory lock
(``pg_advisory_xact_lock``) before it reads the head and numbers its events, and holds
it until commit, so positions are assigned and committed strictly in order across every
connection and instance. A reader that sees position p therefore sees everything below
p, and ``max(position)`` is always a safe head. The lock is held for one round trip of
inserts plus the commit; group commit keeps that cost per batch, not per append.

Group commit. As in the SQLite store, appends queue for one writer task per instance,
which commits everything waiting in one transaction (checks in Python under the lock,
one multi-row insert), so concurrent requests share a commit and one lock hand-off.

Live across instances. The append transaction NOTIFYs its new head; a dedicated listening
connection on every instance advances the store's HeadNotifier, which wakes `subscribe`.
If that connection drops, the listener polls the head every second and reconnects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg

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
from events.store.pending import PendingAppend, committed_events
from events.store.postgres_listener import HeadListener
from events.store.postgres_rows import (
    SELECT,
    RowDecoder,
    decode_idempotency,
    encode_event,
    filter_clause,
)
from events.store.postgres_schema import migrate
from events.store.postgres_writer import write_batch
from events.store.stats import WriterStats
from events.store.subscription import HeadNotifier, follow

__all__ = ["PostgresEventStore", "WriterStats"]

PAGE = 1000
POOL_SIZE = 10
MAX_BATCH = 500
_HEAD = "SELECT COALESCE(max(position), 0) FROM events"
_PURGE_IDEMPOTENCY = (
    "DELETE FROM idempotency WHERE key IN "
    "(SELECT key FROM idempotency WHERE created_at < $1 LIMIT $2)"
)
_STREAMS_FIRST = "SELECT DISTINCT stream FROM events ORDER BY stream LIMIT $1"
_STREAMS_AFTER = "SELECT DISTINCT stream FROM events WHERE stream > $1 ORDER BY stream LIMIT $2"


class PostgresEventStore:
    """Append through one group-committing writer per instance; read from a pool."""

    def __init__(
        self, pool: Any, *, dsn: str, codec: EventCodec, head: int, group_commit: bool
    ) -> None:
        self.codec = codec
        self.stats = WriterStats()
        self.group_commit = group_commit
        self._pool = pool
        self._rows = RowDecoder(codec)
        self._notifier = HeadNotifier(head)
        self._pending: list[PendingAppend] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._closed = False
        self._writer = asyncio.get_running_loop().create_task(self._run_writer())
        self.listener = HeadListener(
            connect=lambda: asyncpg.connect(dsn), read_head=self._read_head, notifier=self._notifier
        )
        self.listener.start()

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        codec: EventCodec,
        pool_size: int = POOL_SIZE,
        group_commit: bool = True,
    ) -> PostgresEventStore:
        """Connect, migrate the schema if needed, and start the writer and the listener."""
        try:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=pool_size)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from None
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
                head = int(await conn.fetchval(_HEAD))
        except BaseException:
            await pool.close()
            raise
        return cls(pool, dsn=dsn, codec=codec, head=head, group_commit=group_commit)

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
        """Append in the writer's next transaction and return once it has committed."""
        if self._closing:
            raise StoreClosed("the store is closed")
        events = list(events)
        item = PendingAppend(
            stream=stream,
            events=events,
            rows=[encode_event(self.codec, event) for event in events],
            expected_version=expected_version,
            idempotency=_idempotency_row(idempotency),
        )
        started = time.perf_counter()
        if self.group_commit:
            item.future = asyncio.get_running_loop().create_future()
            self._pending.append(item)
            self._wakeup.set()
            recorded = await item.future
        else:
            await self._commit([item])
            recorded = item.result()
        self.stats.record_append(events=len(events), seconds=time.perf_counter() - started)
        return recorded

    async def stream_version(self, stream: str) -> int:
        """Return the stream's newest version, 0 when it has none."""
        sql = "SELECT COALESCE(max(version), 0) FROM events WHERE stream = $1"
        return int(await self._fetchval(sql, stream))

    async def read_stream(
        self, stream: str, *, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        """Return the stream's events after a version, in version order."""
        sql = f"{SELECT} WHERE stream = $1 AND version > $2 ORDER BY version LIMIT $3"
        return await self._fetch_decoded(sql, stream, after_version, limit)

    async def list_streams(self, *, after: str | None = None, limit: int = 1000) -> list[str]:
        """Return stream names after a name, in order, from the (stream, version) index.

        Compared and ordered in the column's collation, which the unique index is built in,
        so PostgreSQL reads the index from after instead of sorting the table (a collation
        other than the column's would cost a full scan and sort per page).
        """
        self._check_open()
        if limit < 1:
            return []
        if after is None:
            rows = await self._pool.fetch(_STREAMS_FIRST, limit)
        else:
            rows = await self._pool.fetch(_STREAMS_AFTER, after, limit)
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
        self._check_open()
        conditions, params = filter_clause(event_filter, first=4)
        where = " AND ".join(["position > $1", "position < $2", *conditions])
        order = "DESC" if descending else "ASC"
        sql = f"{SELECT} WHERE {where} ORDER BY position {order} LIMIT $3"
        lower = max(after_position, 0)
        upper = (1 << 62) if before_position is None else before_position
        remaining = limit
        decode = self._rows.decode
        while lower + 1 < upper and (remaining is None or remaining > 0):
            size = PAGE if remaining is None else min(PAGE, remaining)
            self._check_open()
            rows = await self._pool.fetch(sql, lower, upper, size, *params)
            for start in range(0, len(rows), DECODE_CHUNK):
                for item in decode(rows[start : start + DECODE_CHUNK]):
                    yield item
            if len(rows) < size:
                return
            if remaining is not None:
                remaining -= len(rows)
            if descending:
                upper = rows[-1][0]
            else:
                lower = rows[-1][0]

    def subscribe(
        self, *, after_position: int = 0, event_filter: EventFilter | None = None
    ) -> AsyncIterator[RecordedEvent]:
        """Yield matching events after a position, then each new one as any instance commits."""
        self._check_open()
        return follow(
            self.read_all, self._notifier, after_position=after_position, event_filter=event_filter
        )

    async def head_position(self) -> int:
        """Return the newest committed position."""
        self._check_open()
        return await self._read_head()

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """Return the idempotency record stored under key, if any."""
        self._check_open()
        sql = "SELECT key, fingerprint, status, body, created_at FROM idempotency WHERE key = $1"
        row = await self._pool.fetchrow(sql, key)
        return None if row is None else decode_idempotency(tuple(row))

    async def purge_idempotency(self, *, before: datetime, limit: int = 1000) -> int:
        """Delete up to limit records older than before, by their created_at index."""
        self._check_open()
        status: str = await self._pool.execute(_PURGE_IDEMPOTENCY, before, limit)
        return int(status.rsplit(" ", 1)[-1])

    async def ping(self) -> None:
        """Run the cheapest query there is."""
        await self._fetchval("SELECT 1")

    async def close(self) -> None:
        """Commit what is pending, stop the writer and the listener, and close the pool."""
        if self._closing:
            await asyncio.shield(self._writer)
            return
        self._closing = True
        self._wakeup.set()
        await asyncio.shield(self._writer)
        self._closed = True
        await self.listener.stop()
        await self._pool.close()

    async def _run_writer(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._commit(batch)
                for item in batch:
                    item.settle()
            if self._closing and not self._pending:
                return

    async def _commit(self, batch: list[PendingAppend]) -> None:
        """Write a batch in one transaction; on a lost connection fail every append in it."""
        started = time.perf_counter()
        try:
            async with self._pool.acquire() as conn:
                head = await write_batch(conn, batch)
        except Exception as exc:
            error = StoreError(f"the transaction did not commit: {exc!r}")
            for item in batch:
                item.outcome = error
            return
        self.stats.record_commit(
            appends=len(batch),
            events=committed_events(batch),
            seconds=time.perf_counter() - started,
        )
        # Advanced after commit: a woken subscriber reads everything up to head.
        self._notifier.advance(head)

    async def _read_head(self) -> int:
        return int(await self._pool.fetchval(_HEAD))

    async def _fetchval(self, sql: str, *params: Any) -> Any:
        self._check_open()
        return await self._pool.fetchval(sql, *params)

    async def _fetch_decoded(self, sql: str, *params: Any) -> list[RecordedEvent]:
        self._check_open()
        return self._rows.decode(await self._pool.fetch(sql, *params))

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the store is closed")


def _idempotency_row(record: IdempotencyRecord | None) -> tuple[Any, ...] | None:
    if record is None:
        return None
    return (record.key, record.fingerprint, record.status, record.body, record.created_at)
