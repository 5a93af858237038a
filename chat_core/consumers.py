"""Durable consumers: downstream services reading a tenant and env's log at their own pace.

A consumer reads the events after its checkpoint, in log order, and acknowledges what it
has handled; the checkpoint (in the store, shared by every instance) only moves forward.
A read may wait for the next event: the process's log follower wakes it (`observe`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from attrs import frozen

from chat_core.batches import PrivateThreads, read_batch
from chat_core.context import AuthContext, RequestContext, Role, require_role
from chat_core.errors import Conflict, NotFound, ValidationFailed
from chat_core.views import rfc3339
from events.codec import EventCodec, default_registry
from events.consumers import CheckpointStore, Consumer
from events.envelope import Env
from events.keys import KeyRing
from events.store.base import EventStore, RecordedEvent

__all__ = [
    "CONSUMER_NAME_PATTERN",
    "MAX_READ",
    "MAX_WAIT",
    "ConsumerBatch",
    "ConsumerView",
    "Consumers",
    "known_types",
]

CONSUMER_NAME_PATTERN = "^[a-z0-9][a-z0-9_-]{0,62}$"
_NAME = re.compile(CONSUMER_NAME_PATTERN)
MAX_READ = 1000
MAX_WAIT = 30
Start = Literal["beginning", "end"]
# A batch's events, and each with its data as clients may see it (module-level: the class
# below has a method named list).
Events = list[RecordedEvent]
Shown = list[tuple[RecordedEvent, dict[str, Any]]]


def known_types() -> frozenset[str]:
    """Return the event types the codec knows, the ones a consumer or webhook may ask for."""
    return frozenset(cls.event_type for cls in default_registry.types())


def check_types(types: Sequence[str]) -> None:
    """Refuse (422) a list of event types with an unknown or repeated one."""
    known = known_types()
    unknown = sorted(set(types) - known)
    if unknown:
        raise ValidationFailed(
            "unknown event types", [("types", f"not an event type: {', '.join(unknown)}")]
        )
    if len(set(types)) != len(types):
        raise ValidationFailed("repeated event types", [("types", "lists a type twice")])


@frozen(kw_only=True)
class ConsumerView:
    """A consumer as the admin routes show it."""

    consumer: Consumer
    lag: int

    def to_json(self) -> dict[str, Any]:
        """Return the contract's shape."""
        consumer = self.consumer
        return {
            "name": consumer.name,
            "types": list(consumer.types),
            "position": consumer.position,
            "lag": self.lag,
            "created_at": rfc3339(consumer.created_at),
        }


@frozen(kw_only=True)
class ConsumerBatch:
    """Events after a checkpoint in the streams' shape, and the position to ack after them."""

    events: list[dict[str, Any]]
    next_position: int


class Consumers:
    """Create, read, acknowledge and delete durable consumers: admins only."""

    def __init__(
        self,
        *,
        store: EventStore,
        checkpoints: CheckpointStore,
        keys: KeyRing,
        codec: EventCodec,
        clock: Callable[[], datetime],
        private: PrivateThreads,
    ) -> None:
        self._store = store
        self._private = private
        self.checkpoints = checkpoints
        self._keys = keys
        self._codec = codec
        self._clock = clock
        # One future per tenant and env that some read waits on, settled by the next event.
        self._waiting: dict[tuple[str, Env], asyncio.Future[None]] = {}

    def observe(self, item: RecordedEvent) -> None:
        """Wake the reads waiting for an event of this one's tenant and env (a bus subscriber)."""
        event = item.event
        waiter = self._waiting.pop((event.tenant, event.env), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def create(
        self,
        context: RequestContext,
        auth: AuthContext,
        *,
        name: str,
        types: Sequence[str],
        start: Start,
    ) -> ConsumerView:
        """Make a consumer at the log's beginning or end; 409 when the name is taken."""
        require_role(context, auth, Role.ADMIN)
        if _NAME.fullmatch(name) is None:
            raise ValidationFailed(
                "bad consumer name", [("name", f"must match {CONSUMER_NAME_PATTERN}")]
            )
        check_types(types)
        position = await self._store.head_position() if start == "end" else 0
        consumer = Consumer(
            tenant=context.tenant,
            env=context.env,
            name=name,
            types=tuple(types),
            position=position,
            created_at=self._clock(),
        )
        if not await self.checkpoints.create(consumer):
            raise Conflict(f"a consumer named {name} exists in this tenant and env")
        return await self._view(consumer)

    async def list(self, context: RequestContext, auth: AuthContext) -> list[ConsumerView]:
        """Return this tenant and env's consumers by name."""
        require_role(context, auth, Role.ADMIN)
        found = await self.checkpoints.list(context.tenant, context.env)
        return [await self._view(consumer) for consumer in found]

    async def get(self, context: RequestContext, auth: AuthContext, name: str) -> ConsumerView:
        """Return one consumer with its lag, or 404."""
        require_role(context, auth, Role.ADMIN)
        return await self._view(await self._find(context, name))

    async def read(
        self, context: RequestContext, auth: AuthContext, name: str, *, limit: int, wait: float
    ) -> ConsumerBatch:
        """Return up to limit events after the checkpoint, waiting up to wait s for one."""
        require_role(context, auth, Role.ADMIN)
        consumer = await self._find(context, name)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        slot = (context.tenant, context.env)
        while True:
            # Waiting starts before the read, so an event appended in between still wakes it.
            waiter = self._waiting.get(slot) if wait > 0 else None
            if wait > 0 and waiter is None:
                waiter = self._waiting[slot] = loop.create_future()
            events, last = await read_batch(
                self._store,
                self._keys,
                self._codec,
                consumer.event_filter(),
                self._private,
                after_position=consumer.position,
                limit=limit,
            )
            remaining = deadline - loop.time()
            if events or waiter is None or remaining <= 0:
                return ConsumerBatch(events=events, next_position=last)
            await asyncio.wait([waiter], timeout=remaining)

    async def ack(
        self, context: RequestContext, auth: AuthContext, name: str, position: int
    ) -> Consumer:
        """Move the checkpoint forward to position; a lower one leaves it; past the end, 422.

        The answer is the checkpoint without the lag: counting the lag walks every event
        after it, which a consumer acking batch after batch would pay on each ack.
        """
        require_role(context, auth, Role.ADMIN)
        head = await self._store.head_position()
        if position > head:
            raise ValidationFailed(
                "the position is past the end of the log",
                [("position", f"must be at most {head}, the log's last position")],
            )
        consumer = await self.checkpoints.advance(context.tenant, context.env, name, position)
        if consumer is None:
            raise NotFound(f"no consumer named {name} in this tenant and env")
        return consumer

    async def delete(self, context: RequestContext, auth: AuthContext, name: str) -> None:
        """Forget a consumer and its checkpoint, or 404."""
        require_role(context, auth, Role.ADMIN)
        if not await self.checkpoints.delete(context.tenant, context.env, name):
            raise NotFound(f"no consumer named {name} in this tenant and env")

    async def _find(self, context: RequestContext, name: str) -> Consumer:
        consumer = await self.checkpoints.get(context.tenant, context.env, name)
        if consumer is None:
            raise NotFound(f"no consumer named {name} in this tenant and env")
        return consumer

    async def _view(self, consumer: Consumer) -> ConsumerView:
        return ConsumerView(consumer=consumer, lag=await self.checkpoints.lag(consumer))
