"""Webhooks in the SQLite log's own file (or an in-memory database beside a memory log).

Delivery bookkeeping commits with synchronous=NORMAL: a commit lost to a power cut can
only make an event be delivered again, which at-least-once allows; registrations and
deletions commit fully synchronous, like the log.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import orjson

from events.envelope import Env
from events.store.sqlite_rows import encode_time
from events.store.sqlite_schema import connect, migrate
from events.webhooks.book import Delivery, DeliveryStatus, Webhook

__all__ = ["SQLiteWebhookStore"]

T = TypeVar("T")

_HOOK = "id, tenant, env, url, types, description, secret, master_id, created_at, position"
_DELIVERY = (
    "webhook_id, position, event_id, attempts, last_status, last_error, next_attempt_at, status"
)
_INSERT = f"INSERT INTO webhooks ({_HOOK}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_ONE = f"SELECT {_HOOK} FROM webhooks WHERE tenant = ? AND env = ? AND id = ?"  # noqa: S608
_LIST = f"SELECT {_HOOK} FROM webhooks WHERE tenant = ? AND env = ? ORDER BY id"  # noqa: S608
_EVERY = f"SELECT {_HOOK} FROM webhooks ORDER BY id"  # noqa: S608
_DELETE = "DELETE FROM webhooks WHERE tenant = ? AND env = ? AND id = ?"
_DELETE_DELIVERIES = "DELETE FROM webhook_deliveries WHERE webhook_id = ?"
_CLAIM = (
    "UPDATE webhooks SET holder = ?, lease_until = ? WHERE id = ? "
    "AND (holder IS NULL OR holder = ? OR lease_until < ?)"
)
_RELEASE = "UPDATE webhooks SET holder = NULL, lease_until = NULL WHERE holder = ?"
_HOLDER = "SELECT holder FROM webhooks WHERE id = ?"
_REWRAP = "UPDATE webhooks SET secret = ?, master_id = ? WHERE id = ? AND master_id = ?"
_DUE = (
    f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE webhook_id = ? "  # noqa: S608
    "AND status IN ('pending', 'failed') ORDER BY position LIMIT 1"
)
_UPSERT = f"INSERT OR REPLACE INTO webhook_deliveries ({_DELIVERY}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_FORGET = "DELETE FROM webhook_deliveries WHERE webhook_id = ? AND position = ?"
_ADVANCE = "UPDATE webhooks SET position = max(position, ?) WHERE id = ?"
_PAGE = (
    f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE webhook_id = ? "  # noqa: S608
    "AND position > ? AND (? IS NULL OR status = ?) ORDER BY position LIMIT ?"
)
_REPLAY = (
    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = 0 "
    "WHERE webhook_id = ? AND status = 'parked'"
)


class SQLiteWebhookStore:
    """Keep webhooks in a SQLite database through one connection of their own."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, path: str) -> SQLiteWebhookStore:
        """Open the log's file, or make an in-memory database for ':memory:'."""
        return cls(await asyncio.to_thread(_open, path))

    async def create(self, webhook: Webhook) -> None:
        row = (
            webhook.id,
            webhook.tenant,
            webhook.env.value,
            webhook.url,
            orjson.dumps(webhook.types).decode(),
            webhook.description,
            webhook.secret,
            webhook.master_id,
            encode_time(webhook.created_at),
            webhook.position,
        )
        await self._run(lambda conn: _durably(conn, lambda: conn.execute(_INSERT, row)))

    async def get(self, tenant: str, env: Env, webhook_id: str) -> Webhook | None:
        slot = (tenant, env.value, webhook_id)
        row = await self._run(lambda conn: conn.execute(_ONE, slot).fetchone())
        return None if row is None else _webhook(row)

    async def for_tenant(self, tenant: str, env: Env) -> list[Webhook]:
        rows = await self._run(lambda conn: conn.execute(_LIST, (tenant, env.value)).fetchall())
        return [_webhook(row) for row in rows]

    async def every_webhook(self) -> list[Webhook]:
        rows = await self._run(lambda conn: conn.execute(_EVERY).fetchall())
        return [_webhook(row) for row in rows]

    async def delete(self, tenant: str, env: Env, webhook_id: str) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            def both() -> int:
                conn.execute(_DELETE_DELIVERIES, (webhook_id,))
                count: int = conn.execute(_DELETE, (tenant, env.value, webhook_id)).rowcount
                return count

            return bool(_durably(conn, both))

        return await self._run(delete)

    async def claim(self, webhook_id: str, holder: str, *, now: float, until: float) -> bool:
        params = (holder, until, webhook_id, holder, now)
        return bool(await self._run(lambda conn: conn.execute(_CLAIM, params).rowcount))

    async def release(self, holder: str) -> None:
        await self._run(lambda conn: conn.execute(_RELEASE, (holder,)))

    async def rewrap(
        self, webhook_id: str, secret: bytes, master_id: str, *, previous_master: str
    ) -> bool:
        params = (secret, master_id, webhook_id, previous_master)
        return bool(
            await self._run(lambda conn: _durably(conn, lambda: conn.execute(_REWRAP, params)))
        )

    async def due(self, webhook_id: str) -> Delivery | None:
        row = await self._run(lambda conn: conn.execute(_DUE, (webhook_id,)).fetchone())
        return None if row is None else _delivery(row)

    async def record(self, delivery: Delivery, *, holder: str) -> bool:
        row = (
            delivery.webhook_id,
            delivery.position,
            delivery.event_id,
            delivery.attempts,
            delivery.last_status,
            delivery.last_error,
            delivery.next_attempt_at,
            delivery.status.value,
        )

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(_UPSERT, row)
            if delivery.status is DeliveryStatus.PARKED:
                conn.execute(_ADVANCE, (delivery.position, delivery.webhook_id))

        return await self._run(lambda conn: _holding(conn, delivery.webhook_id, holder, write))

    async def done(self, webhook_id: str, position: int, *, holder: str) -> bool:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(_FORGET, (webhook_id, position))
            conn.execute(_ADVANCE, (position, webhook_id))

        return await self._run(lambda conn: _holding(conn, webhook_id, holder, write))

    async def deliveries(
        self, webhook_id: str, *, status: DeliveryStatus | None, after: int, limit: int
    ) -> list[Delivery]:
        wanted = None if status is None else status.value
        params = (webhook_id, after, wanted, wanted, limit)
        rows = await self._run(lambda conn: conn.execute(_PAGE, params).fetchall())
        return [_delivery(row) for row in rows]

    async def replay(self, webhook_id: str) -> int:
        count: int = await self._run(lambda conn: conn.execute(_REPLAY, (webhook_id,)).rowcount)
        return count

    async def close(self) -> None:
        await self._run(lambda conn: conn.close())

    async def _run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return func(self._conn)

        return await asyncio.to_thread(locked)


def _open(path: str) -> sqlite3.Connection:
    conn = connect(path)
    if path == ":memory:":
        migrate(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _durably(conn: sqlite3.Connection, write: Callable[[], T]) -> T:
    """Run a write in a fully synchronous transaction, as the log's own commits are."""
    conn.execute("PRAGMA synchronous = FULL")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = write()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result
    finally:
        conn.execute("PRAGMA synchronous = NORMAL")


Write = Callable[[sqlite3.Connection], Any]


def _holding(conn: sqlite3.Connection, webhook_id: str, holder: str, write: Write) -> bool:
    """Write in one transaction if holder still holds the webhook's lease."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(_HOLDER, (webhook_id,)).fetchone()
        if row is None or row[0] != holder:
            conn.execute("ROLLBACK")
            return False
        write(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return True


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row[0],
        tenant=row[1],
        env=Env(row[2]),
        url=row[3],
        types=orjson.loads(row[4]),
        description=row[5],
        secret=bytes(row[6]),
        master_id=row[7],
        created_at=datetime.fromisoformat(row[8]),
        position=row[9],
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        webhook_id=row[0],
        position=row[1],
        event_id=row[2],
        attempts=row[3],
        last_status=row[4],
        last_error=row[5],
        next_attempt_at=row[6],
        status=DeliveryStatus(row[7]),
    )
