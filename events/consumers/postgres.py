"""Consumers' checkpoints in the PostgreSQL log's own database, through a small pool."""

from __future__ import annotations

from typing import Any

from events.consumers.book import Consumer
from events.envelope import Env

__all__ = ["PostgresCheckpointStore"]

_COLUMNS = "tenant, env, name, types, position, created_at"
_INSERT = (
    f"INSERT INTO consumers ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) "  # noqa: S608
    "ON CONFLICT DO NOTHING"
)
_ONE = f"SELECT {_COLUMNS} FROM consumers WHERE tenant = $1 AND env = $2 AND name = $3"  # noqa: S608
_LIST = f"SELECT {_COLUMNS} FROM consumers WHERE tenant = $1 AND env = $2 ORDER BY name"  # noqa: S608
# One statement: concurrent acks from several instances each keep the greater position.
_ADVANCE = (
    "UPDATE consumers SET position = greatest(position, $4) "  # noqa: S608
    f"WHERE tenant = $1 AND env = $2 AND name = $3 RETURNING {_COLUMNS}"
)
_DELETE = "DELETE FROM consumers WHERE tenant = $1 AND env = $2 AND name = $3"
_LAG = (
    "SELECT count(*) FROM events WHERE tenant = $1 AND env = $2 AND position > $3 "
    "AND (cardinality($4::text[]) = 0 OR type = ANY($4::text[]))"
)


class PostgresCheckpointStore:
    """Keep consumers in the log's database; the event store's migrations made the table."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str) -> PostgresCheckpointStore:
        """Connect."""
        import asyncpg

        return cls(await asyncpg.create_pool(dsn, min_size=1, max_size=2))

    async def create(self, consumer: Consumer) -> bool:
        status: str = await self._pool.execute(
            _INSERT,
            consumer.tenant,
            consumer.env.value,
            consumer.name,
            list(consumer.types),
            consumer.position,
            consumer.created_at,
        )
        return status.rsplit(" ", 1)[-1] != "0"

    async def get(self, tenant: str, env: Env, name: str) -> Consumer | None:
        row = await self._pool.fetchrow(_ONE, tenant, env.value, name)
        return None if row is None else _consumer(row)

    async def list(self, tenant: str, env: Env) -> list[Consumer]:
        return [_consumer(row) for row in await self._pool.fetch(_LIST, tenant, env.value)]

    async def advance(self, tenant: str, env: Env, name: str, position: int) -> Consumer | None:
        row = await self._pool.fetchrow(_ADVANCE, tenant, env.value, name, position)
        return None if row is None else _consumer(row)

    async def delete(self, tenant: str, env: Env, name: str) -> bool:
        status: str = await self._pool.execute(_DELETE, tenant, env.value, name)
        return status.rsplit(" ", 1)[-1] != "0"

    async def lag(self, consumer: Consumer) -> int:
        count: int = await self._pool.fetchval(
            _LAG, consumer.tenant, consumer.env.value, consumer.position, list(consumer.types)
        )
        return count

    async def close(self) -> None:
        await self._pool.close()


def _consumer(row: Any) -> Consumer:
    return Consumer(
        tenant=row[0],
        env=Env(row[1]),
        name=row[2],
        types=list(row[3]),
        position=row[4],
        created_at=row[5],
    )
