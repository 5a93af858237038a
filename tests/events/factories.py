"""Build valid test events and open each store backend the contract suite runs against."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from events.codec import EventCodec
from events.envelope import DatasetEvent, Env, EventPayload
from events.store.base import EventStore
from events.store.memory import MemoryEventStore
from events.store.sqlite import SQLiteEventStore
from events.store.url import open_store
from tests.events.payloads import Noted, Pinged
from tests.pg import fresh_database

__all__ = ["BACKENDS", "BASE_TIME", "make_event", "make_events", "open_backend"]

BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)


# PostgreSQL runs in a fresh database per test; unreachable, it skips (fails under CI=true).
BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def make_event(
    stream: str,
    version: int,
    *,
    tenant: str = "t_acme",
    env: Env = Env.DEV,
    payload: EventPayload | None = None,
    occurred_at: datetime | None = None,
    metadata: dict[str, str] | None = None,
    request_id: str | None = None,
) -> DatasetEvent:
    """Return a valid event for stream at version."""
    return DatasetEvent(
        event_id=uuid.uuid4(),
        stream=stream,
        version=version,
        tenant=tenant,
        env=env,
        request_id=request_id or f"req-{stream}-{version}",
        trace_id=request_id or f"req-{stream}-{version}",
        actor="user-1",
        occurred_at=occurred_at or BASE_TIME + timedelta(seconds=version),
        payload=payload or Noted(text=f"{stream} #{version}", priority=version, tags={}),
        metadata=metadata,
    )


def make_events(stream: str, first: int, count: int, **kwargs: object) -> list[DatasetEvent]:
    """Return count consecutive events for stream, the first at version first."""
    build: Callable[..., DatasetEvent] = make_event
    return [build(stream, first + i, **kwargs) for i in range(count)]


def ping(target: str) -> Pinged:
    """Return a Pinged payload."""
    return Pinged(target=target)


@asynccontextmanager
async def open_backend(name: str, tmp_path: Path) -> AsyncIterator[EventStore]:
    """Open a fresh store of the named backend and close it afterwards."""
    store: EventStore
    if name == "memory":
        store = MemoryEventStore()
    elif name == "sqlite":
        store = await SQLiteEventStore.open(str(tmp_path / "db" / "events.db"), codec=EventCodec())
    else:
        async with fresh_database() as url:
            store = await open_store(url, codec=EventCodec())
            try:
                yield store
            finally:
                await store.close()
        return
    try:
        yield store
    finally:
        await store.close()
