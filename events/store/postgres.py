"""The PostgreSQL event store: several server instances share one log through one database.

Global order without the classic gap. With a sequence, a transaction can commit position
11 while another still holds 10 uncommitted; a reader at 9 then sees 11, moves on, and
never sees 10. Here each append transaction takes one transaction-level advisory lock
(``pg_advisory_xact_lock``) before it reads the head and numbers its events, and holds
it until commit, so positions are assigned and committed strictly in order across every
connection and instance. A reader that sees position p therefore sees everything below
p, and ``max(position)`` is always a safe head. The lock is held for one round trip of
inserts plus the commit; group commit keeps that cost per batch, not per append.

Group commit. The skeleton's (group_commit) writer task, one per instance, commits
everything waiting in one transaction (checks in Python under the lock, one multi-row
insert), so concurrent requests share a commit and one lock hand-off; at most MAX_BATCH
appends a transaction, so one never holds the append lock for long.

Live across instances. The append transaction NOTIFYs its new head; a dedicated listening
connection on every instance advances the store's HeadNotifier, which wakes `subscribe`.
If that connection drops, the listener polls the head every second and reconnects.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import asyncpg

from events.codec import EventCodec
from events.search.records import SearchDoc
from events.store.group_commit import GroupCommitStore, PendingAppend, WriterStats
from events.store.postgres_listener import HeadListener
from events.store.postgres_rows import SELECT, RowDecoder, encode_event, filter_clause
from events.store.postgres_schema import migrate
from events.store.postgres_search import STATEMENTS as SEARCH_STATEMENTS
from events.store.postgres_search import clear_index, load_index
from events.store.postgres_writer import write_batch
from events.store.reads import RowCodec, Statements
from events.store.records import EventFilter, RecordedEvent, StoreError

__all__ = ["PostgresEventStore", "WriterStats"]

POOL_SIZE = 10
MAX_BATCH = 500
_HEAD = "SELECT COALESCE(max(position), 0) FROM events"
_PURGE_IDEMPOTENCY = (
    "DELETE FROM idempotency WHERE key IN "
    "(SELECT key FROM idempotency WHERE created_at < $1 LIMIT $2)"
)


def range_query(
    event_filter: EventFilter | None, *, descending: bool = False
) -> tuple[str, list[Any]]:
    """Return the SELECT of a page of the log between two positions, and the filter's
    parameters; its parameters are (after, before, *the filter's, limit)."""
    conditions, params = filter_clause(event_filter, first=3)
    where = " AND ".join(["position > $1", "position < $2", *conditions])
    order = "DESC" if descending else "ASC"
    return f"{SELECT} WHERE {where} ORDER BY position {order} LIMIT ${3 + len(params)}", params


# Stream names are compared and ordered in the column's collation, which the unique
# (stream, version) index is built in, so PostgreSQL reads the index from after instead
# of sorting the table (a collation other than the column's would cost a full scan and
# sort per page).
# A write that leaves nothing behind, refused as any write is (a read-only standby, a full
# disk, a lock held past a second): a row no scope key can be, inserted and deleted. The
# key is the process's own, so two instances probing at once do not wait on each other.
_PROBE_INSERT = (
    "INSERT INTO idempotency (key, fingerprint, status, body, created_at) "
    "VALUES ($1, '', 0, '', now())"
)
_PROBE_DELETE = "DELETE FROM idempotency WHERE key = $1"
_PROBE_KEY = f"readiness probe {secrets.token_hex(8)}"
STATEMENTS = Statements(
    head=_HEAD,
    stream_version="SELECT COALESCE(max(version), 0) FROM events WHERE stream = $1",
    read_stream=f"{SELECT} WHERE stream = $1 AND version > $2 ORDER BY version LIMIT $3",
    streams_first="SELECT DISTINCT stream FROM events ORDER BY stream LIMIT $1",
    streams_after="SELECT DISTINCT stream FROM events WHERE stream > $1 ORDER BY stream LIMIT $2",
    idempotency="SELECT key, fingerprint, status, body, created_at FROM idempotency WHERE key = $1",
    range_query=range_query,
    no_limit=None,
)


class PostgresEventStore(GroupCommitStore):
    """Append through one group-committing writer per instance; read from a pool."""

    statements = STATEMENTS
    search_statements = SEARCH_STATEMENTS
    # asyncpg stores and returns timestamps as datetimes.
    row_codec = RowCodec(decoder=RowDecoder, encode_event=encode_event)

    def __init__(
        self, pool: Any, *, dsn: str, codec: EventCodec, head: int, group_commit: bool
    ) -> None:
        # Other instances commit too: subscribers read back what the head passes.
        super().__init__(
            codec=codec,
            head=head,
            max_batch=MAX_BATCH,
            hold_commits=False,
            group_commit=group_commit,
        )
        self._pool = pool
        self.dsn = dsn
        self.listener = HeadListener(
            connect=lambda: asyncpg.connect(dsn), read_head=self._read_head, notifier=self.notifier
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

    async def purge_idempotency(self, *, before: datetime, limit: int = 1000) -> int:
        """Delete up to limit records older than before, by their created_at index."""
        self._check_open()
        status: str = await self._pool.execute(_PURGE_IDEMPOTENCY, before, limit)
        return int(status.rsplit(" ", 1)[-1])

    async def probe_write(self) -> None:
        """Commit a write that leaves nothing behind; waiting a second on a lock is a failure."""
        self._check_open()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '1s'")
            await conn.execute(_PROBE_INSERT, _PROBE_KEY)
            await conn.execute(_PROBE_DELETE, _PROBE_KEY)

    async def _write(self, batch: list[PendingAppend]) -> int:
        async with self._pool.acquire() as conn:
            return await write_batch(conn, batch)

    async def clear_index(self) -> None:
        """Delete the whole search index (replay rebuilds it from the log)."""
        self._check_open()
        async with self._pool.acquire() as conn:
            await clear_index(conn)

    async def load_index(self, docs: list[SearchDoc]) -> None:
        """Insert ranked documents into the search index, in one transaction."""
        self._check_open()
        async with self._pool.acquire() as conn, conn.transaction():
            await load_index(conn, docs)

    async def index_totals(self) -> tuple[int, int]:
        """Return how many documents and postings the search index holds."""
        row = await self._fetchrow(
            "SELECT (SELECT count(*) FROM search_docs), (SELECT count(*) FROM search_postings)"
        )
        return int(row[0]), int(row[1])

    async def _release(self) -> None:
        await self.listener.stop()
        await self._pool.close()

    async def _read_head(self) -> int:
        return int(await self._pool.fetchval(_HEAD))

    async def _fetch(self, sql: str, *params: Any) -> list[Any]:
        self._check_open()
        rows: list[Any] = await self._pool.fetch(sql, *params)
        return rows

    async def _fetchrow(self, sql: str, *params: Any) -> Any:
        self._check_open()
        return await self._pool.fetchrow(sql, *params)

    async def _fetch_decoded(self, sql: str, *params: Any) -> list[RecordedEvent]:
        self._check_open()
        return self._decoder.decode(await self._pool.fetch(sql, *params))
