"""The checkpoint store's port, its record, the one in memory, and opening one by URL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs
from attrs import frozen

from events.envelope import Env
from events.store.base import EventFilter, EventStore

__all__ = ["CheckpointStore", "Consumer", "MemoryCheckpointStore", "open_checkpoint_store"]


def _types(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(values)


@frozen(kw_only=True)
class Consumer:
    """A durable consumer: who it reads for, what it wants, and where it stands."""

    tenant: str
    env: Env
    name: str
    types: tuple[str, ...] = attrs.field(converter=_types)
    position: int
    created_at: datetime

    def event_filter(self) -> EventFilter:
        """Return the filter of the events this consumer sees."""
        return EventFilter(tenants={self.tenant}, envs={self.env}, types=self.types)


@runtime_checkable
class CheckpointStore(Protocol):
    """Where consumers and their checkpoints live: beside the log, shared by every instance."""

    async def create(self, consumer: Consumer) -> bool:
        """Store a new consumer; tell False when its name is taken in its tenant and env."""
        ...

    async def get(self, tenant: str, env: Env, name: str) -> Consumer | None:
        """Return a consumer of a tenant and env, if there is one by that name."""
        ...

    async def list(self, tenant: str, env: Env) -> list[Consumer]:
        """Return a tenant and env's consumers by name."""
        ...

    async def advance(self, tenant: str, env: Env, name: str, position: int) -> Consumer | None:
        """Move a checkpoint forward to position (never back); return the consumer as it is."""
        ...

    async def delete(self, tenant: str, env: Env, name: str) -> bool:
        """Forget a consumer; tell whether there was one."""
        ...

    async def lag(self, consumer: Consumer) -> int:
        """Count the consumer's events after its checkpoint."""
        ...

    async def close(self) -> None:
        """Release the store's connections."""
        ...


class MemoryCheckpointStore:
    """Keep consumers in a dict, counting lag over the events of a store in the same process."""

    def __init__(self, events: EventStore) -> None:
        self._events = events
        self._consumers: dict[tuple[str, Env, str], Consumer] = {}

    async def create(self, consumer: Consumer) -> bool:
        slot = (consumer.tenant, consumer.env, consumer.name)
        return self._consumers.setdefault(slot, consumer) is consumer

    async def get(self, tenant: str, env: Env, name: str) -> Consumer | None:
        return self._consumers.get((tenant, env, name))

    async def list(self, tenant: str, env: Env) -> list[Consumer]:
        found = [c for (t, e, _), c in self._consumers.items() if t == tenant and e == env]
        return sorted(found, key=lambda c: c.name)

    async def advance(self, tenant: str, env: Env, name: str, position: int) -> Consumer | None:
        slot = (tenant, env, name)
        current = self._consumers.get(slot)
        if current is not None and position > current.position:
            current = self._consumers[slot] = attrs.evolve(current, position=position)
        return current

    async def delete(self, tenant: str, env: Env, name: str) -> bool:
        return self._consumers.pop((tenant, env, name), None) is not None

    async def lag(self, consumer: Consumer) -> int:
        reads = self._events.read_all(
            after_position=consumer.position, event_filter=consumer.event_filter()
        )
        return sum([1 async for _ in reads])

    async def close(self) -> None:
        pass


async def open_checkpoint_store(url: str, *, events: EventStore) -> CheckpointStore:
    """Open the checkpoint store in the database of the log a URL names (migrated already)."""
    if url.startswith("sqlite:"):
        from events.consumers.sqlite import SQLiteCheckpointStore
        from events.store.url import sqlite_path

        return await SQLiteCheckpointStore.open(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        from events.consumers.postgres import PostgresCheckpointStore

        return await PostgresCheckpointStore.open(url)
    return MemoryCheckpointStore(events)
