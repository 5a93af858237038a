"""Consumers' checkpoints in the SQLite log's own file, through one connection of their own."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import orjson

from events.consumers.book import Consumer
from events.envelope import Env
from events.store.sqlite_rows import encode_time
from events.store.sqlite_schema import connect

__all__ = ["SQLiteCheckpointStore"]

T = TypeVar("T")

_COLUMNS = "tenant, env, name, types, position, created_at"
_INSERT = f"INSERT OR IGNORE INTO consumers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608
_ONE = f"SELECT {_COLUMNS} FROM consumers WHERE tenant = ? AND env = ? AND name = ?"  # noqa: S608
_LIST = f"SELECT {_COLUMNS} FROM consumers WHERE tenant = ? AND env = ? ORDER BY name"  # noqa: S608
_ADVANCE = (
    "UPDATE consumers SET position = max(position, ?) WHERE tenant = ? AND env = ? AND name = ?"
)
_DELETE = "DELETE FROM consumers WHERE tenant = ? AND env = ? AND name = ?"
# Each an index range from the checkpoint (events_by_tenant_env, or the type index): the
# cost is the lag, not the log.
_LAG_ALL = "SELECT count(*) FROM events WHERE tenant = ? AND env = ? AND position > ?"
_LAG_TYPED = (
    "SELECT count(*) FROM events WHERE tenant = ? AND env = ? AND type IN ({}) AND position > ?"
)


class SQLiteCheckpointStore:
    """Keep consumers in the log's SQLite file; the event store's migrations made the table."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, path: str) -> SQLiteCheckpointStore:
        """Open the log's file."""
        return cls(await asyncio.to_thread(connect, path))

    async def create(self, consumer: Consumer) -> bool:
        row = (
            consumer.tenant,
            consumer.env.value,
            consumer.name,
            orjson.dumps(consumer.types).decode(),
            consumer.position,
            encode_time(consumer.created_at),
        )
        return bool(await self._run(lambda conn: conn.execute(_INSERT, row).rowcount))

    async def get(self, tenant: str, env: Env, name: str) -> Consumer | None:
        row = await self._run(lambda conn: conn.execute(_ONE, (tenant, env.value, name)).fetchone())
        return None if row is None else _consumer(row)

    async def list(self, tenant: str, env: Env) -> list[Consumer]:
        rows = await self._run(lambda conn: conn.execute(_LIST, (tenant, env.value)).fetchall())
        return [_consumer(row) for row in rows]

    async def advance(self, tenant: str, env: Env, name: str, position: int) -> Consumer | None:
        slot = (tenant, env.value, name)

        def update(conn: sqlite3.Connection) -> Any:
            conn.execute(_ADVANCE, (position, *slot))
            return conn.execute(_ONE, slot).fetchone()

        row = await self._run(update)
        return None if row is None else _consumer(row)

    async def delete(self, tenant: str, env: Env, name: str) -> bool:
        slot = (tenant, env.value, name)
        return bool(await self._run(lambda conn: conn.execute(_DELETE, slot).rowcount))

    async def lag(self, consumer: Consumer) -> int:
        if consumer.types:
            sql = _LAG_TYPED.format(", ".join("?" * len(consumer.types)))
            params: tuple[Any, ...] = (
                consumer.tenant,
                consumer.env.value,
                *consumer.types,
                consumer.position,
            )
        else:
            sql, params = _LAG_ALL, (consumer.tenant, consumer.env.value, consumer.position)
        count: int = await self._run(lambda conn: conn.execute(sql, params).fetchone()[0])
        return count

    async def close(self) -> None:
        await self._run(lambda conn: conn.close())

    async def _run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return func(self._conn)

        return await asyncio.to_thread(locked)


def _consumer(row: Any) -> Consumer:
    return Consumer(
        tenant=row[0],
        env=Env(row[1]),
        name=row[2],
        types=orjson.loads(row[3]),
        position=row[4],
        created_at=datetime.fromisoformat(row[5]),
    )
