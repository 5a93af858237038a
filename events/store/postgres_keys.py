"""Wrapped data keys in the PostgreSQL log's own database, in a data_keys table.

Destroying a key nulls its row and then rewrites the small table (VACUUM FULL), so the
dead tuple with the wrapped bytes does not stay in the table's files.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from events.keys.keystore import StoredKey
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
_COLUMNS = "tenant, subject, key_id, wrapped, master_id, created_at"
_INSERT = (
    f"INSERT INTO data_keys ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) "  # noqa: S608
    "ON CONFLICT DO NOTHING"
)
_ONE = f"SELECT {_COLUMNS} FROM data_keys WHERE tenant = $1 AND subject = $2 AND key_id = $3"  # noqa: S608
_SUBJECT = f"SELECT {_COLUMNS} FROM data_keys WHERE tenant = $1 AND subject = $2 ORDER BY key_id"  # noqa: S608
_ALL = f"SELECT {_COLUMNS} FROM data_keys ORDER BY tenant, subject, key_id"  # noqa: S608
_DESTROY = (
    "UPDATE data_keys SET wrapped = NULL, destroyed_at = $1 "
    "WHERE tenant = $2 AND subject = $3 AND wrapped IS NOT NULL"
)
_REWRAP = (
    "UPDATE data_keys SET wrapped = $1, master_id = $2 WHERE tenant = $3 AND subject = $4 "
    "AND key_id = $5 AND wrapped IS NOT NULL AND master_id = $6"
)


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
        # The update leaves the old tuple behind until the table is rewritten.
        await self._pool.execute("VACUUM FULL data_keys")
        return int(status.rsplit(" ", 1)[-1])

    async def all_keys(self) -> list[StoredKey]:
        return [_key(row) for row in await self._pool.fetch(_ALL)]

    async def rewrap_key(self, key: StoredKey, *, previous_master: str) -> bool:
        status: str = await self._pool.execute(
            _REWRAP,
            key.wrapped,
            key.master_id,
            key.tenant,
            key.subject,
            key.key_id,
            previous_master,
        )
        return status.rsplit(" ", 1)[-1] != "0"

    async def close(self) -> None:
        await self._pool.close()


def _key(row: Any) -> StoredKey:
    return StoredKey(
        tenant=row["tenant"],
        subject=row["subject"],
        key_id=row["key_id"],
        wrapped=None if row["wrapped"] is None else bytes(row["wrapped"]),
        master_id=row["master_id"],
        created_at=row["created_at"],
    )
