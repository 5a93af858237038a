"""The PostgreSQL key store can be opened by several servers starting at the same moment."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from events.store.postgres_keys import PostgresKeyStore
from tests.pg import postgres_url

__all__ = ["postgres_url"]

pytestmark = pytest.mark.postgres


async def test_concurrent_opens_on_a_new_database_all_succeed(postgres_url: str) -> None:
    stores = await asyncio.gather(
        *(PostgresKeyStore.open(postgres_url, clock=lambda: datetime.now(UTC)) for _ in range(8))
    )
    for store in stores:
        await store._pool.close()
    assert len(stores) == 8
