"""Webhooks in the PostgreSQL log's own database, through a small pool."""

from __future__ import annotations

from typing import Any

from events.envelope import Env
from events.webhooks.book import Delivery, DeliveryStatus, Webhook

__all__ = ["PostgresWebhookStore"]

_HOOK = "id, tenant, env, url, types, description, secret, master_id, created_at, position"
_DELIVERY = (
    "webhook_id, position, event_id, attempts, last_status, last_error, next_attempt_at, status"
)
_INSERT = f"INSERT INTO webhooks ({_HOOK}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"  # noqa: S608
_ONE = f"SELECT {_HOOK} FROM webhooks WHERE tenant = $1 AND env = $2 AND id = $3"  # noqa: S608
_LIST = f"SELECT {_HOOK} FROM webhooks WHERE tenant = $1 AND env = $2 ORDER BY id"  # noqa: S608
_EVERY = f"SELECT {_HOOK} FROM webhooks ORDER BY id"  # noqa: S608
_DELETE = "DELETE FROM webhooks WHERE tenant = $1 AND env = $2 AND id = $3"
_DELETE_DELIVERIES = "DELETE FROM webhook_deliveries WHERE webhook_id = $1"
# One statement: two instances claiming at once, one row lock decides.
_CLAIM = (
    "UPDATE webhooks SET holder = $1, lease_until = $2 WHERE id = $3 "
    "AND (holder IS NULL OR holder = $1 OR lease_until < $4)"
)
_RELEASE = "UPDATE webhooks SET holder = NULL, lease_until = NULL WHERE holder = $1"
# FOR UPDATE: a claim by another instance waits until this transaction's write is done.
_HOLDER = "SELECT holder FROM webhooks WHERE id = $1 FOR UPDATE"
_REWRAP = "UPDATE webhooks SET secret = $1, master_id = $2 WHERE id = $3 AND master_id = $4"
_DUE = (
    f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE webhook_id = $1 "  # noqa: S608
    "AND status IN ('pending', 'failed') ORDER BY position LIMIT 1"
)
_UPSERT = (
    f"INSERT INTO webhook_deliveries ({_DELIVERY}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "  # noqa: S608
    "ON CONFLICT (webhook_id, position) DO UPDATE SET attempts = EXCLUDED.attempts, "
    "last_status = EXCLUDED.last_status, last_error = EXCLUDED.last_error, "
    "next_attempt_at = EXCLUDED.next_attempt_at, status = EXCLUDED.status"
)
_FORGET = "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND position = $2"
_ADVANCE = "UPDATE webhooks SET position = greatest(position, $1) WHERE id = $2"
_PAGE = (
    f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE webhook_id = $1 "  # noqa: S608
    "AND position > $2 AND ($3::text IS NULL OR status = $3) ORDER BY position LIMIT $4"
)
_REPLAY = (
    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = 0 "
    "WHERE webhook_id = $1 AND status = 'parked'"
)


class PostgresWebhookStore:
    """Keep webhooks in the log's database; the event store's migrations made the tables."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str) -> PostgresWebhookStore:
        """Connect."""
        import asyncpg

        return cls(await asyncpg.create_pool(dsn, min_size=1, max_size=4))

    async def create(self, webhook: Webhook) -> None:
        await self._pool.execute(
            _INSERT,
            webhook.id,
            webhook.tenant,
            webhook.env.value,
            webhook.url,
            list(webhook.types),
            webhook.description,
            webhook.secret,
            webhook.master_id,
            webhook.created_at,
            webhook.position,
        )

    async def get(self, tenant: str, env: Env, webhook_id: str) -> Webhook | None:
        row = await self._pool.fetchrow(_ONE, tenant, env.value, webhook_id)
        return None if row is None else _webhook(row)

    async def for_tenant(self, tenant: str, env: Env) -> list[Webhook]:
        return [_webhook(row) for row in await self._pool.fetch(_LIST, tenant, env.value)]

    async def every_webhook(self) -> list[Webhook]:
        return [_webhook(row) for row in await self._pool.fetch(_EVERY)]

    async def delete(self, tenant: str, env: Env, webhook_id: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_DELETE_DELIVERIES, webhook_id)
            status: str = await conn.execute(_DELETE, tenant, env.value, webhook_id)
        return status.rsplit(" ", 1)[-1] != "0"

    async def claim(self, webhook_id: str, holder: str, *, now: float, until: float) -> bool:
        status: str = await self._pool.execute(_CLAIM, holder, until, webhook_id, now)
        return status.rsplit(" ", 1)[-1] != "0"

    async def release(self, holder: str) -> None:
        await self._pool.execute(_RELEASE, holder)

    async def rewrap(
        self, webhook_id: str, secret: bytes, master_id: str, *, previous_master: str
    ) -> bool:
        status: str = await self._pool.execute(
            _REWRAP, secret, master_id, webhook_id, previous_master
        )
        return status.rsplit(" ", 1)[-1] != "0"

    async def due(self, webhook_id: str) -> Delivery | None:
        row = await self._pool.fetchrow(_DUE, webhook_id)
        return None if row is None else _delivery(row)

    async def record(self, delivery: Delivery, *, holder: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(_HOLDER, delivery.webhook_id) != holder:
                return False
            await conn.execute(
                _UPSERT,
                delivery.webhook_id,
                delivery.position,
                delivery.event_id,
                delivery.attempts,
                delivery.last_status,
                delivery.last_error,
                delivery.next_attempt_at,
                delivery.status.value,
            )
            if delivery.status is DeliveryStatus.PARKED:
                await conn.execute(_ADVANCE, delivery.position, delivery.webhook_id)
        return True

    async def done(self, webhook_id: str, position: int, *, holder: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(_HOLDER, webhook_id) != holder:
                return False
            await conn.execute(_FORGET, webhook_id, position)
            await conn.execute(_ADVANCE, position, webhook_id)
        return True

    async def deliveries(
        self, webhook_id: str, *, status: DeliveryStatus | None, after: int, limit: int
    ) -> list[Delivery]:
        wanted = None if status is None else status.value
        rows = await self._pool.fetch(_PAGE, webhook_id, after, wanted, limit)
        return [_delivery(row) for row in rows]

    async def replay(self, webhook_id: str) -> int:
        status: str = await self._pool.execute(_REPLAY, webhook_id)
        return int(status.rsplit(" ", 1)[-1])

    async def close(self) -> None:
        await self._pool.close()


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row[0],
        tenant=row[1],
        env=Env(row[2]),
        url=row[3],
        types=list(row[4]),
        description=row[5],
        secret=bytes(row[6]),
        master_id=row[7],
        created_at=row[8],
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
