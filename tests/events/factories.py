"""Build valid test events and open each store backend the contract suite runs against."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from events.codec import EventCodec
from events.envelope import DatasetEvent, Env, EventPayload
from events.store.base import EventStore
from events.store.memory import MemoryEventStore
from events.store.sqlite import SQLiteEventStore
from tests.events.payloads import Noted, Pinged

__all__ = ["BACKENDS", "BASE_TIME", "make_event", "make_events", "open_backend"]

BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)


def _backends() -> list[str]:
    names = ["memory", "sqlite"]
    # Hook for the PostgreSQL backend: listed once it exists and a database is named.
    if os.environ.get("CHAT_CORE_TEST_POSTGRES_URL"):
        names.append("postgres")
    return names


BACKENDS = _backends()


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
        from events.store.url import open_store

        store = await open_store(os.environ["CHAT_CORE_TEST_POSTGRES_URL"], codec=EventCodec())
    try:
        yield store
    finally:
        await store.close()
