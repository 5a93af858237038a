"""Wrapped data keys in the PostgreSQL log's own database, in a data_keys table.

Destroying a key nulls its row; the old tuple, wrapped bytes and all, stays in the table's
files until the table is rewritten. A scrub rewrites the small table (VACUUM FULL), but a
rewrite keeps every tuple a snapshot may still see: while a transaction older than the
newest destroy runs (a long export, a psql session left in a transaction), the scrub says
not yet and leaves the table alone. It waits at most LOCK_WAIT_MS for the table's lock, so
the readers and writers queued behind it wait no longer than that. What it cannot see: the
sessions of other roles unless this one may (superuser, pg_read_all_stats), replication
slots, and the server's WAL segments, which hold the bytes until PostgreSQL recycles them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from events.keys.keystore import StoredKey
from events.store import key_statements as sql
from events.store.postgres_schema import MIGRATION_LOCK

__all__ = ["PostgresKeyStore"]

_TABLE = """
CREATE TABLE IF NOT EXISTS data_keys (
    tenant text NOT NULL,
    subject text NOT NULL,
    key_id integer NOT NULL,
    wrapped bytea,
    master_id text NOT NULL,
    created_at timestamptz NOT NULL,
    destroyed_at timestamptz,
    PRIMARY KEY (tenant, subject, key_id)
)
"""
# Some transaction, anywhere on the server, is as old as the newest destroy: a snapshot
# may see the old tuple, or be taken from it (a new session's first snapshot counts every
# running transaction, whatever its database), so a rewrite now would keep it.
_OLDER_TRANSACTION = """
WITH newest AS (SELECT min(age(xmin)) AS age FROM data_keys WHERE wrapped IS NULL)
SELECT EXISTS (
    SELECT 1 FROM pg_stat_activity, newest
    WHERE pid <> pg_backend_pid() AND greatest(age(backend_xid), age(backend_xmin)) >= newest.age
) OR EXISTS (
    SELECT 1 FROM pg_prepared_xacts, newest WHERE age(transaction) >= newest.age
)
"""
LOCK_WAIT_MS = 100
_INSERT = sql.numbered(sql.INSERT)
_ONE = sql.numbered(sql.ONE)
_SUBJECT = sql.numbered(sql.SUBJECT)
_DESTROY = sql.numbered(sql.DESTROY)
_FOREIGN = sql.numbered(sql.FOREIGN)
_REWRAP = sql.numbered(sql.REWRAP)


class PostgresKeyStore:
    """Keep wrapped data keys in the log's PostgreSQL database, through a small pool."""

    def __init__(self, pool: Any, clock: Callable[[], datetime]) -> None:
        self._pool = pool
        self._clock = clock

    @classmethod
    async def open(cls, dsn: str, *, clock: Callable[[], datetime]) -> PostgresKeyStore:
        """Connect and make the data_keys table if it is missing."""
        import asyncpg

        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        # Two servers starting together on a new database would race CREATE TABLE IF NOT
        # EXISTS into a unique violation on pg_type: take the migration lock around it.
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(_TABLE)
        return cls(pool, clock)

    async def add_key(self, key: StoredKey) -> StoredKey:
        slot = (key.tenant, key.subject, key.key_id)
        async with self._pool.acquire() as conn:
            await conn.execute(_INSERT, *slot, key.wrapped, key.master_id, key.created_at)
            return _key(await conn.fetchrow(_ONE, *slot))

    async def subject_keys(self, tenant: str, subject: str) -> list[StoredKey]:
        return [_key(row) for row in await self._pool.fetch(_SUBJECT, tenant, subject)]

    async def destroy_keys(self, tenant: str, subject: str) -> int:
        status: str = await self._pool.execute(_DESTROY, self._clock(), tenant, subject)
        return int(status.rsplit(" ", 1)[-1])

    async def scrub(self) -> bool:
        import asyncpg

        async with self._pool.acquire() as conn:
            if await conn.fetchval(_OLDER_TRANSACTION):
                return False
            await conn.execute(f"SET lock_timeout = {LOCK_WAIT_MS}")
            try:
                await conn.execute("VACUUM FULL data_keys")
            except asyncpg.LockNotAvailableError:
                return False
            finally:
                await conn.execute("RESET lock_timeout")
        return True

    async def all_keys(self) -> list[StoredKey]:
        return [_key(row) for row in await self._pool.fetch(sql.ALL)]

    async def foreign_master(self, master_id: str) -> str | None:
        found: str | None = await self._pool.fetchval(_FOREIGN, master_id)
        return found

    async def rewrap_key(self, key: StoredKey, *, previous_master: str) -> bool:
        status: str = await self._pool.execute(_REWRAP, *sql.rewrap_params(key, previous_master))
        return status.rsplit(" ", 1)[-1] != "0"

    async def close(self) -> None:
        await self._pool.close()


def _key(row: Any) -> StoredKey:
    return sql.stored_key(row, lambda created_at: created_at)
