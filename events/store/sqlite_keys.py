"""Wrapped data keys in the SQLite log's own file, in a data_keys table beside the events.

Destroying a key overwrites its row with secure_delete on, so the page it was on keeps no
copy of the wrapped bytes. Older images of that page stay behind, though: in the database
file until a checkpoint copies the new page over it, and in WAL frames until the WAL is
truncated. A scrub is a TRUNCATE checkpoint that does both, and it can get through only
when no reader holds a snapshot the old images belong to; it tries once, with no busy
wait, because a TRUNCATE checkpoint waiting on a reader holds the WAL's write lock and so
stalls every writer (up to the busy timeout, 10 s, beside a long export).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from events.keys.keystore import StoredKey
from events.store import key_statements as sql
from events.store.sqlite_checkpoint import scrub_wal
from events.store.sqlite_rows import encode_time
from events.store.sqlite_schema import connect

__all__ = ["SQLiteKeyStore"]

T = TypeVar("T")

_TABLE = """
CREATE TABLE IF NOT EXISTS data_keys (
    tenant TEXT NOT NULL,
    subject TEXT NOT NULL,
    key_id INTEGER NOT NULL,
    wrapped BLOB,
    master_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    destroyed_at TEXT,
    PRIMARY KEY (tenant, subject, key_id)
) WITHOUT ROWID
"""


class SQLiteKeyStore:
    """Keep wrapped data keys in the log's SQLite file, through one connection of its own."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], datetime]) -> None:
        self._conn = conn
        self._clock = clock
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, path: str, *, clock: Callable[[], datetime]) -> SQLiteKeyStore:
        """Open the log's file and make the data_keys table if it is missing."""
        conn = await asyncio.to_thread(_open, path)
        return cls(conn, clock)

    async def add_key(self, key: StoredKey) -> StoredKey:
        row = (
            key.tenant,
            key.subject,
            key.key_id,
            key.wrapped,
            key.master_id,
            encode_time(key.created_at),
        )

        def insert(conn: sqlite3.Connection) -> list[Any]:
            conn.execute(sql.INSERT, row)
            return list(conn.execute(sql.ONE, row[:3]).fetchone())

        return _key(await self._run(insert))

    async def subject_keys(self, tenant: str, subject: str) -> list[StoredKey]:
        rows = await self._run(lambda conn: conn.execute(sql.SUBJECT, (tenant, subject)).fetchall())
        return [_key(row) for row in rows]

    async def destroy_keys(self, tenant: str, subject: str) -> int:
        params = (encode_time(self._clock()), tenant, subject)
        return await self._run(lambda conn: conn.execute(sql.DESTROY, params).rowcount)

    async def scrub(self) -> bool:
        return await self._run(scrub_wal)

    async def all_keys(self) -> list[StoredKey]:
        rows = await self._run(lambda conn: conn.execute(sql.ALL).fetchall())
        return [_key(row) for row in rows]

    async def rewrap_key(self, key: StoredKey, *, previous_master: str) -> bool:
        params = sql.rewrap_params(key, previous_master)
        changed = await self._run(lambda conn: conn.execute(sql.REWRAP, params).rowcount)
        return bool(changed)

    async def foreign_master(self, master_id: str) -> str | None:
        row = await self._run(lambda conn: conn.execute(sql.FOREIGN, (master_id,)).fetchone())
        return None if row is None else str(row[0])

    async def close(self) -> None:
        await self._run(lambda conn: conn.close())

    async def _run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return func(self._conn)

        return await asyncio.to_thread(locked)


def _open(path: str) -> sqlite3.Connection:
    conn = connect(path)
    # Overwrite what an update frees, so a destroyed key leaves no bytes in the file.
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute(_TABLE)
    return conn


def _key(row: Any) -> StoredKey:
    return sql.stored_key(row, datetime.fromisoformat)
