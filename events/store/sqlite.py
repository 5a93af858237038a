"""The embedded SQLite event store: one group-committing writer thread, pooled reader threads.

The group-commit loop, paged reads and shutdown are the skeleton's (group_commit); this
module supplies SQLite's statements and connections: a writer connection on a thread of
its own, one read-only connection per reader thread, and a WAL checkpointer beside them.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import attrs

from events.codec import EventCodec
from events.search.records import SearchDoc, SearchQuery
from events.store.group_commit import GroupCommitStore, PendingAppend, WriterStats
from events.store.raw import RowPages
from events.store.reads import RowCodec, Statements
from events.store.records import RecordedEvent, StoreClosed
from events.store.sqlite_checkpoint import (
    Checkpointer,
    hand_over_checkpoints,
    restart_wal,
    scrub_wal,
)
from events.store.sqlite_rows import SELECT, RowDecoder, encode_event, encode_time, range_query
from events.store.sqlite_schema import connect, migrate
from events.store.sqlite_search import STATEMENTS as SEARCH_STATEMENTS
from events.store.sqlite_search import clear_index, compact_index, load_index
from events.store.sqlite_search_walk import plan, search_now, walk_first, walk_planned
from events.store.sqlite_writer import StreamVersions, write_batch

__all__ = ["SQLiteEventStore", "WriterStats"]

T = TypeVar("T")
READERS = 2
# Seconds before each try to scrub the WAL after a commit that deleted words.
SCRUB_WAITS = (0.0, 0.002, 0.01)
log = logging.getLogger("events.store.sqlite")

_PURGE_IDEMPOTENCY = (
    "DELETE FROM idempotency WHERE key IN "
    "(SELECT key FROM idempotency WHERE created_at < ? LIMIT ?)"
)
# SQLite walks the (stream, version) unique index in order from after (EXPLAIN QUERY PLAN:
# a covering index search, no temporary b-tree).
# A write that leaves nothing behind: a row no scope key (64 hex digits) can be, inserted
# and deleted in one transaction, which still commits its pages to the WAL.
_PROBE = (
    (
        "INSERT INTO idempotency (key, fingerprint, status, body, created_at) "
        "VALUES ('readiness probe', '', 0, x'', '')"
    ),
    "DELETE FROM idempotency WHERE key = 'readiness probe'",
)
_STREAMS_FIRST = "SELECT DISTINCT stream FROM events ORDER BY stream LIMIT ?"
_STREAMS_AFTER = "SELECT DISTINCT stream FROM events WHERE stream > ? ORDER BY stream LIMIT ?"
_HEAD = "SELECT COALESCE(MAX(position), 0) FROM events"
STATEMENTS = Statements(
    head=_HEAD,
    stream_version="SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?",
    read_stream=f"{SELECT} WHERE stream = ? AND version > ? ORDER BY version LIMIT ?",
    streams_first=_STREAMS_FIRST,
    streams_after=_STREAMS_AFTER,
    idempotency="SELECT key, fingerprint, status, body, created_at FROM idempotency WHERE key = ?",
    range_query=range_query,
    no_limit=-1,
)


class SQLiteEventStore(RowPages, GroupCommitStore):
    """Append through one writer thread that commits every waiting append at once."""

    # One process appends to this log, so its caches may trust their own appends.
    sole_writer = True
    statements = STATEMENTS
    search_statements = SEARCH_STATEMENTS
    row_codec = RowCodec(
        decoder=RowDecoder,
        encode_event=encode_event,
        encode_time=encode_time,
        decode_time=datetime.fromisoformat,
    )

    def __init__(self, path: str, *, codec: EventCodec, head: int) -> None:
        # The sole writer hands its commits to the notifier: nobody else writes between.
        super().__init__(codec=codec, head=head, hold_commits=True)
        self.path = path
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        # Only the writer thread touches it: this process is the file's sole writer.
        self._known_versions = StreamVersions()
        self._read_pool = ThreadPoolExecutor(READERS, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_conn: sqlite3.Connection | None = None
        # The event loop's own reader, for the searches it answers itself (search).
        self._loop_conn: sqlite3.Connection | None = None
        self.checkpointer = Checkpointer(path)
        # Set by the writer thread when the WAL is due to start over before the next batch.
        self._restart_due = False
        # Set by the writer thread while deleted words may still lie in the WAL (see scrub).
        self._scrub_due = False

    @classmethod
    async def open(cls, path: str, *, codec: EventCodec) -> SQLiteEventStore:
        """Open the database file (creating it and its directory) and start the writer."""
        head = await asyncio.to_thread(_prepare, path)
        store = cls(path, codec=codec, head=head)
        store._write_conn = await store._on_writer(connect, path)
        await store._on_writer(hand_over_checkpoints, store._write_conn)
        # Overwrite what a deletion frees, so deleted index words leave the pages they were on.
        await store._on_writer(store._write_conn.execute, "PRAGMA secure_delete = ON")
        return store

    async def clear_index(self) -> None:
        """Delete the whole search index, on the writer between commits (replay rebuilds it)."""
        self._check_open()
        assert self._write_conn is not None
        await self._on_writer(clear_index, self._write_conn)

    async def load_index(self, docs: list[SearchDoc]) -> None:
        """Insert ranked documents into the search index, on the writer between commits."""
        self._check_open()
        assert self._write_conn is not None
        await self._on_writer(load_index, self._write_conn, docs)

    async def index_totals(self) -> tuple[int, int]:
        """Return how many documents and postings the search index holds."""
        row = await self._fetchrow(
            "SELECT (SELECT count(*) FROM search_docs), (SELECT count(*) FROM search_postings)"
        )
        return int(row[0]), int(row[1])

    async def search(self, query: SearchQuery) -> list[SearchDoc]:
        """Answer a query (sqlite_search_walk), as far as a bounded walk goes on the event loop.

        A query of whole words is counted and walked on the loop over at most
        LOOP_POSTINGS of its driver's postings, a few hundred index entries: a first page
        of rare words, or of a lone word, is read there without a hand-off to a reader
        and back (measured, the server's CPU per request of bench.search's two rare words
        on 100,000 messages: 1,012 us with the hand-off, 858 us without; its one common
        word 783-815 us, 579-643 us). The rest of a walk that needs more, a query with a
        prefix, and one the file is too busy to start at once for, go to a reader.
        """
        if self._closed:
            raise StoreClosed("the store is closed")
        try:
            planned = plan(query, self._loop_rows)
            if planned is None:
                return await self._on_reader(search_now, query, self._rows_of)
            found, after = walk_first(planned, query, self._loop_rows)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorname not in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                raise
            return await self._on_reader(search_now, query, self._rows_of)
        if after is None:
            return found
        rest = attrs.evolve(query, after=after, limit=query.limit - len(found))
        return found + await self._on_reader(walk_planned, planned, rest, self._rows_of)

    def _loop_rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Read on the event loop's own connection, which never waits for a lock."""
        conn = self._loop_conn
        if conn is None:
            conn = self._loop_conn = connect(self.path, readonly=True)
            conn.execute("PRAGMA busy_timeout = 0")
            with self._lock:
                self._connections.append(conn)
        rows: list[tuple[Any, ...]] = conn.execute(sql, params).fetchall()
        return rows

    async def purge_idempotency(self, *, before: datetime, limit: int = 1000) -> int:
        """Delete up to limit records older than before, on the writer, between commits.

        A bounded batch, so the appends queued behind it wait one short transaction.
        """
        self._check_open()
        return await self._on_writer(self._purge, encode_time(before), limit)

    async def probe_write(self) -> None:
        """Commit a write that leaves nothing behind, on the writer between batches."""
        self._check_open()
        await self._on_writer(self._probe)

    def _probe(self) -> None:
        assert self._write_conn is not None, "open() connects the writer before any probe"
        with self._write_conn:
            for statement in _PROBE:
                self._write_conn.execute(statement)

    async def _write(self, batch: list[PendingAppend]) -> int:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._write_pool, self._write_now, batch)

    def _write_now(self, batch: list[PendingAppend]) -> int:
        """On the writer thread: start the WAL over if due, then write the batch."""
        conn = self._write_conn
        assert conn is not None, "open() connects the writer before any append"
        if self._restart_due:
            self._restart_due = False
            self._restart_wal(conn)
        head, deleted = write_batch(conn, batch, self._known_versions)
        # Only a commit that deleted index rows compacts: a redaction of a message that was
        # never indexed, or an erasure of someone who wrote none, leaves nothing to copy away.
        if deleted:
            self._compact(conn)
            self._scrub_due = not self._scrub(conn, SCRUB_WAITS)
        elif self._scrub_due:
            # Once per commit, never waiting: a long reader must not slow every append.
            self._scrub_due = not self._scrub(conn, (0.0,))
        self._restart_due = self.checkpointer.committed()
        return head

    def _compact(self, conn: sqlite3.Connection) -> None:
        """Leave no copy of deleted words in the index's pages (see sqlite_search), then scrub."""
        try:
            compact_index(conn)
        except sqlite3.Error:
            log.warning("compacting the search index of %s failed", self.path, exc_info=True)

    def _scrub(self, conn: sqlite3.Connection, waits: tuple[float, ...]) -> bool:
        """Leave no older image of a page that held deleted words, in the WAL or the file.

        A few quick tries (a checkpoint of the checkpointer's may be under way); if none
        gets through, the next commit tries again.
        """
        for wait in waits:
            time.sleep(wait)
            try:
                if scrub_wal(conn):
                    return True
            except sqlite3.Error:
                log.warning("scrubbing the WAL of %s failed", self.path, exc_info=True)
        return False

    def _restart_wal(self, conn: sqlite3.Connection) -> None:
        """Start the WAL over between two batches (see sqlite_checkpoint); never fail a write."""
        try:
            restart_wal(conn)
        except sqlite3.Error:
            log.warning("restarting the WAL of %s failed; retrying later", self.path, exc_info=True)

    def _purge(self, before: str, limit: int) -> int:
        assert self._write_conn is not None, "open() connects the writer before any purge"
        with self._write_conn:
            cursor = self._write_conn.execute(_PURGE_IDEMPOTENCY, (before, limit))
        return cursor.rowcount

    async def _release(self) -> None:
        await asyncio.to_thread(self._shutdown)

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
        if self._closed:
            raise StoreClosed("the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_pool, func, *args)

    async def _fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return await self._on_reader(self._rows_of, sql, params)

    async def _fetchrow(self, sql: str, *params: Any) -> Any:
        return await self._on_reader(self._row_of, sql, params)

    async def _fetch_decoded(self, sql: str, *params: Any) -> list[RecordedEvent]:
        return await self._on_reader(self._decoded_of, sql, params)

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _row_of(self, sql: str, params: tuple[Any, ...]) -> Any:
        return self._reader().execute(sql, params).fetchone()

    def _rows_of(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._reader().execute(sql, params).fetchall()
        return rows

    def _decoded_of(self, sql: str, params: tuple[Any, ...]) -> list[RecordedEvent]:
        """Read and decode on the reader thread, off the event loop."""
        return self._decoder.decode(self._reader().execute(sql, params).fetchall())


def _prepare(path: str) -> int:
    conn = connect(path)
    try:
        migrate(conn)
        head: int = conn.execute(_HEAD).fetchone()[0]
    finally:
        conn.close()
    return head
