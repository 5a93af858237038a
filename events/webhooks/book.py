"""The webhook store's port and records, and opening one by URL."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs
from attrs import frozen

from events.envelope import Env
from events.store.base import EventFilter

__all__ = ["Delivery", "DeliveryStatus", "Webhook", "WebhookStore", "open_webhook_store"]


def _types(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(values)


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands: not tried yet, failed and due again, or given up."""

    PENDING = "pending"
    FAILED = "failed"
    PARKED = "parked"


@frozen(kw_only=True)
class Webhook:
    """A registered receiver of a tenant and env's events, its secret wrapped."""

    id: str
    tenant: str
    env: Env
    url: str
    types: tuple[str, ...] = attrs.field(converter=_types)
    description: str | None
    secret: bytes = attrs.field(repr=False)
    master_id: str
    created_at: datetime
    position: int

    def event_filter(self) -> EventFilter:
        """Return the filter of the events this webhook receives."""
        return EventFilter(tenants={self.tenant}, envs={self.env}, types=self.types)


@frozen(kw_only=True)
class Delivery:
    """One event's delivery to one webhook, as far as it has gone."""

    webhook_id: str
    position: int
    event_id: str
    attempts: int
    last_status: int | None
    last_error: str | None
    # Unix seconds; None once parked.
    next_attempt_at: float | None
    status: DeliveryStatus


@runtime_checkable
class WebhookStore(Protocol):
    """Where webhooks and their deliveries live: beside the log, shared by every instance."""

    async def create(self, webhook: Webhook) -> None:
        """Store a new webhook."""
        ...

    async def get(self, tenant: str, env: Env, webhook_id: str) -> Webhook | None:
        """Return a webhook of a tenant and env, if there is one with that id."""
        ...

    async def for_tenant(self, tenant: str, env: Env) -> list[Webhook]:
        """Return a tenant and env's webhooks by id."""
        ...

    async def every_webhook(self) -> list[Webhook]:
        """Return every webhook of every tenant, for the dispatcher."""
        ...

    async def delete(self, tenant: str, env: Env, webhook_id: str) -> bool:
        """Forget a webhook and its deliveries; tell whether there was one."""
        ...

    async def claim(self, webhook_id: str, holder: str, *, now: float, until: float) -> bool:
        """Take or renew the webhook's lease for holder unless another holds it after now."""
        ...

    async def release(self, holder: str) -> None:
        """Give up every lease holder has."""
        ...

    async def rewrap(
        self, webhook_id: str, secret: bytes, master_id: str, *, previous_master: str
    ) -> bool:
        """Replace a secret's wrapping if previous_master still wraps it; tell whether it did."""
        ...

    async def due(self, webhook_id: str) -> Delivery | None:
        """Return the first delivery row that waits to be tried (pending or failed), if any."""
        ...

    async def record(self, delivery: Delivery, *, holder: str) -> bool:
        """Write a delivery row as it now stands, and move the checkpoint past it when parked.

        False, and nothing written, when holder no longer holds the webhook's lease.
        """
        ...

    async def done(self, webhook_id: str, position: int, *, holder: str) -> bool:
        """Forget the delivery row at position and move the checkpoint forward to it."""
        ...

    async def deliveries(
        self, webhook_id: str, *, status: DeliveryStatus | None, after: int, limit: int
    ) -> list[Delivery]:
        """Return the webhook's delivery rows by position after one, of a status or all."""
        ...

    async def replay(self, webhook_id: str) -> int:
        """Make every parked delivery pending again; return how many."""
        ...

    async def close(self) -> None:
        """Release the store's connections."""
        ...


async def open_webhook_store(url: str) -> WebhookStore:
    """Open the webhook store in the database of the log a URL names (migrated already).

    A memory:// log gets an in-memory SQLite database of its own, with the same schema.
    """
    from events.webhooks.sqlite import SQLiteWebhookStore

    if url.startswith("sqlite:"):
        from events.store.url import sqlite_path

        return await SQLiteWebhookStore.open(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        from events.webhooks.postgres import PostgresWebhookStore

        return await PostgresWebhookStore.open(url)
    return await SQLiteWebhookStore.open(":memory:")
