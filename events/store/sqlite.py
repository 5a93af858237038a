"""The embedded SQLite event store: one group-committing writer thread, pooled reader threads."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

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
from events.store.sqlite_checkpoint import Checkpointer, hand_over_checkpoints, restart_wal
from events.store.sqlite_rows import SELECT, RowDecoder, encode_event, encode_time, range_query
from events.store.sqlite_schema import connect, migrate
from events.store.sqlite_writer import StreamVersions, write_batch
from events.store.stats import WriterStats
from events.store.subscription import HeadNotifier, follow

__all__ = ["SQLiteEventStore", "WriterStats"]

T = TypeVar("T")
# Rows per read from a reader thread; read_all decodes them DECODE_CHUNK at a time.
ROWS_PAGE = 1000
READERS = 2
log = logging.getLogger("events.store.sqlite")

_PURGE_IDEMPOTENCY = (
    "DELETE FROM idempotency WHERE key IN "
    "(SELECT key FROM idempotency WHERE created_at < ? LIMIT ?)"
)
_STREAMS_FIRST = "SELECT DISTINCT stream FROM events ORDER BY stream LIMIT ?"
_STREAMS_AFTER = "SELECT DISTINCT stream FROM events WHERE stream > ? ORDER BY stream LIMIT ?"


class SQLiteEventStore:
    """Append through one writer that commits every waiting append at once; read in threads."""

    # One process appends to this log, so its caches may trust their own appends.
    sole_writer = True

    def __init__(self, path: str, *, codec: EventCodec, head: int) -> None:
        self.path = path
        self.codec = codec
        self.stats = WriterStats()
        self._rows = RowDecoder(codec)
        self._notifier = HeadNotifier(head)
        self._pending: list[PendingAppend] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._closed = False
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        # Only the writer thread touches it: this process is the file's sole writer.
        self._known_versions = StreamVersions()
        self._read_pool = ThreadPoolExecutor(READERS, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_conn: sqlite3.Connection | None = None
        self.checkpointer = Checkpointer(path)
        self._writer = asyncio.get_running_loop().create_task(self._run_writer())

    @classmethod
    async def open(cls, path: str, *, codec: EventCodec) -> SQLiteEventStore:
        """Open the database file (creating it and its directory) and start the writer."""
        head = await asyncio.to_thread(_prepare, path)
        store = cls(path, codec=codec, head=head)
        store._write_conn = await store._on_writer(connect, path)
        await store._on_writer(hand_over_checkpoints, store._write_conn)
        return store

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
        future: asyncio.Future[list[RecordedEvent]] = asyncio.get_running_loop().create_future()
        self._pending.append(
            PendingAppend(
                stream=stream,
                events=events,
                rows=[encode_event(self.codec, event) for event in events],
                expected_version=expected_version,
                idempotency=_idempotency_row(idempotency),
                future=future,
            )
        )
        self._wakeup.set()
        started = time.perf_counter()
        recorded = await future
        self.stats.record_append(events=len(events), seconds=time.perf_counter() - started)
        return recorded

    async def stream_version(self, stream: str) -> int:
        """Return the stream's newest version, 0 when it has none."""
        row = await self._read_one(
            "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?", (stream,)
        )
        return int(row[0])

    async def read_stream(
        self, stream: str, *, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        """Return the stream's events after a version, in version order."""
        sql = f"{SELECT} WHERE stream = ? AND version > ? ORDER BY version LIMIT ?"
        params = (stream, after_version, -1 if limit is None else limit)
        return await self._on_reader(self._fetch_decoded, sql, params)

    async def list_streams(self, *, after: str | None = None, limit: int = 1000) -> list[str]:
        """Return stream names after a name, in order, from the (stream, version) index.

        SQLite walks that unique index in order from after (EXPLAIN QUERY PLAN: a covering
        index search, no temporary b-tree), so a page costs its own streams' index entries,
        never a sort or a scan of the whole table.
        """
        if limit < 1:
            return []
        if after is None:
            rows = await self._on_reader(self._fetch_rows, _STREAMS_FIRST, (limit,))
        else:
            rows = await self._on_reader(self._fetch_rows, _STREAMS_AFTER, (after, limit))
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
        sql, params = range_query(event_filter, descending=descending)
        lower = max(after_position, 0)
        upper = (1 << 62) if before_position is None else before_position
        remaining = limit
        decode = self._rows.decode
        while lower + 1 < upper and (remaining is None or remaining > 0):
            size = ROWS_PAGE if remaining is None else min(ROWS_PAGE, remaining)
            rows = await self._on_reader(self._fetch_rows, sql, (lower, upper, *params, size))
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

    async def read_rows(
        self,
        *,
        after_position: int = 0,
        before_position: int | None = None,
        event_filter: EventFilter | None = None,
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Yield pages of the rows read_all would decode, as stored, in position order.

        For tools that check rows themselves (see sqlite_rows.RowChecker) and decode, with
        RowDecoder, every row they are not sure of.
        """
        self._check_open()
        sql, params = range_query(event_filter)
        lower = max(after_position, 0)
        upper = (1 << 62) if before_position is None else before_position
        while lower + 1 < upper:
            page = await self._on_reader(self._fetch_rows, sql, (lower, upper, *params, ROWS_PAGE))
            if page:
                yield page
            if len(page) < ROWS_PAGE:
                return
            lower = page[-1][0]

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
        row = await self._read_one("SELECT COALESCE(MAX(position), 0) FROM events", ())
        return int(row[0])

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """Return the idempotency record stored under key, if any."""
        sql = "SELECT key, fingerprint, status, body, created_at FROM idempotency WHERE key = ?"
        row = await self._read_one(sql, (key,))
        if row is None:
            return None
        return IdempotencyRecord(
            key=row[0],
            fingerprint=row[1],
            status=row[2],
            body=bytes(row[3]),
            created_at=datetime.fromisoformat(row[4]),
        )

    async def purge_idempotency(self, *, before: datetime, limit: int = 1000) -> int:
        """Delete up to limit records older than before, on the writer, between commits.

        A bounded batch, so the appends queued behind it wait one short transaction.
        """
        self._check_open()
        return await self._on_writer(self._purge, encode_time(before), limit)

    async def ping(self) -> None:
        """Run the cheapest query there is."""
        await self._read_one("SELECT 1", ())

    async def close(self) -> None:
        """Commit what is pending, stop the writer and close every connection."""
        if self._closing:
            await asyncio.shield(self._writer)
            return
        self._closing = True
        self._wakeup.set()
        await asyncio.shield(self._writer)
        self._closed = True
        await asyncio.to_thread(self._shutdown)

    async def _run_writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if batch:
                started = time.perf_counter()
                try:
                    head = await loop.run_in_executor(self._write_pool, self._write, batch)
                except Exception as exc:
                    _fail(batch, exc)
                else:
                    self.stats.record_commit(
                        appends=len(batch),
                        events=committed_events(batch),
                        seconds=time.perf_counter() - started,
                    )
                    committed: list[RecordedEvent] = []
                    for item in batch:
                        item.settle()
                        if type(item.outcome) is list:
                            committed += item.outcome
                    # Advanced on the loop, after commit: a woken subscriber reads it all,
                    # and one that is nearly live takes it from here, not from the file.
                    self._notifier.advance(head, committed)
                    if self.checkpointer.committed():
                        await self._restart_wal()
            if self._closing and not self._pending:
                return

    async def _restart_wal(self) -> None:
        """Start the WAL over between two batches (see sqlite_checkpoint); never fail a write."""
        try:
            await self._on_writer(restart_wal, self._write_conn)
        except sqlite3.Error:
            log.warning("restarting the WAL of %s failed; retrying later", self.path, exc_info=True)

    def _write(self, batch: list[PendingAppend]) -> int:
        assert self._write_conn is not None, "open() connects the writer before any append"
        return write_batch(self._write_conn, batch, self._known_versions)

    def _purge(self, before: str, limit: int) -> int:
        assert self._write_conn is not None, "open() connects the writer before any purge"
        with self._write_conn:
            cursor = self._write_conn.execute(_PURGE_IDEMPOTENCY, (before, limit))
        return cursor.rowcount

    def _shutdown(self) -> None:
        self._write_pool.shutdown(wait=True)
        self._read_pool.shutdown(wait=True)
        self.checkpointer.close()
        with self._lock:
            connections, self._connections = self._connections, []
        if self._write_conn is not None:
            connections.append(self._write_conn)
        for conn in connections:
            conn.close()

    async def _on_writer(self, func: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._write_pool, func, *args)

    async def _on_reader(self, func: Callable[..., T], *args: Any) -> T:
        self._check_open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_pool, func, *args)

    async def _read_one(self, sql: str, params: tuple[Any, ...]) -> Any:
        return await self._on_reader(self._fetch_one, sql, params)

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _fetch_one(self, sql: str, params: tuple[Any, ...]) -> Any:
        return self._reader().execute(sql, params).fetchone()

    def _fetch_rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._reader().execute(sql, params).fetchall()
        return rows

    def _fetch_decoded(self, sql: str, params: tuple[Any, ...]) -> list[RecordedEvent]:
        rows = self._reader().execute(sql, params).fetchall()
        return self._rows.decode(rows)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the store is closed")


def _prepare(path: str) -> int:
    conn = connect(path)
    try:
        migrate(conn)
        head: int = conn.execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()[0]
    finally:
        conn.close()
    return head


def _idempotency_row(record: IdempotencyRecord | None) -> tuple[Any, ...] | None:
    if record is None:
        return None
    return (
        record.key,
        record.fingerprint,
        record.status,
        record.body,
        encode_time(record.created_at),
    )


def _fail(batch: Sequence[PendingAppend], exc: Exception) -> None:
    error = StoreError(f"the transaction did not commit: {exc!r}")
    for item in batch:
        item.fail(error)
