"""The typed in-process bus: one handler per command; the log's events for any subscriber.

Commands go to their one handler (`send`). Recorded events reach subscribers only from
the log: a `LogFollower` holds the process's one subscription to the store and publishes
every event it reads, in log order and once each, whoever appended it (this process,
another instance, the CLI). A subscriber is a plain function run on the follower's turn:
it must not block, and work that waits (a delivery, a wake-up of a long poll) belongs in
the consumer's own task, which the subscriber hands the event to. A subscriber that raises
is logged and fails alone; the others still get the event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from events.store.base import EventStore, RecordedEvent, StoreClosed

__all__ = ["BusError", "Command", "LogFollower", "MessageBus", "Subscriber"]

R = TypeVar("R", covariant=True)
C = TypeVar("C", bound="Command[Any]")

# How long the follower waits before it subscribes again after its subscription failed.
RETRY_SECONDS = 1.0

log = logging.getLogger("events.bus")


class Command(Generic[R]):
    """Base of every command; R is what its handler returns."""

    __slots__ = ()


Subscriber = Callable[[RecordedEvent], None]


class BusError(Exception):
    """A command with no handler, or a second handler for one command type."""


class MessageBus:
    """Route each command to its one handler and each recorded event to its subscribers."""

    def __init__(self) -> None:
        self._handlers: dict[type[Any], Callable[[Any], Awaitable[Any]]] = {}
        self._subscribers: dict[str | None, list[Subscriber]] = {}
        # Per payload class, its type's own subscribers then those of every type; rebuilt on
        # subscribe. Keyed by class, so publishing reads no property of the event.
        self._targets: dict[type[Any], tuple[Subscriber, ...]] = {}

    def register(self, command_type: type[C], handler: Callable[[C], Awaitable[Any]]) -> None:
        """Make handler the one handler of command_type."""
        if command_type in self._handlers:
            raise BusError(f"{command_type.__name__} already has a handler")
        self._handlers[command_type] = handler

    def subscribe(self, subscriber: Subscriber, *, event_type: str | None = None) -> None:
        """Call subscriber with each recorded event of event_type (or of every type)."""
        self._subscribers.setdefault(event_type, []).append(subscriber)
        self._targets.clear()

    def send(self, command: Command[R]) -> Awaitable[R]:
        """Run the one handler of this command; await the result to get what it returns.

        The handler's own awaitable is handed back rather than awaited in a coroutine of
        the bus's: one frame less on every command's await chain, the same outcome.
        """
        handler = self._handlers.get(type(command))
        if handler is None:
            raise BusError(f"no handler for {type(command).__name__}")
        result: Awaitable[R] = handler(command)
        return result

    def publish(self, item: RecordedEvent) -> None:
        """Hand one recorded event to its subscribers, in the order they subscribed."""
        payload_type = type(item.event.payload)
        targets = self._targets.get(payload_type)
        if targets is None:
            typed = self._subscribers.get(item.event.type, [])
            every = self._subscribers.get(None, [])
            targets = self._targets[payload_type] = (*typed, *every)
        for subscriber in targets:
            try:
                subscriber(item)
            except Exception:
                log.exception(
                    "subscriber %s failed on %s at position %d",
                    getattr(subscriber, "__qualname__", repr(subscriber)),
                    item.event.type,
                    item.position,
                )


class LogFollower:
    """Follow the log with one store subscription and publish each event on the bus.

    It starts after a position (the composition root gives it the head it read at start)
    and resumes after the last event it published when the subscription fails, so no
    event is skipped or published twice. It ends when stopped or when the store closes.
    """

    def __init__(
        self, store: EventStore, bus: MessageBus, *, retry_seconds: float = RETRY_SECONDS
    ) -> None:
        self._store = store
        self._bus = bus
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self.position = 0

    @property
    def running(self) -> bool:
        """Tell whether the follower's task is alive."""
        return self._task is not None and not self._task.done()

    def start(self, *, after_position: int) -> None:
        """Publish every event after a position, then each new one, from a task of this loop."""
        if self._task is not None:
            raise RuntimeError("the log follower was already started")
        self.position = after_position
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="chat-core log follower"
        )

    async def stop(self) -> None:
        """Cancel the follower's task and wait until it has ended."""
        task = self._task
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait([task])

    async def _run(self) -> None:
        while True:
            try:
                async for item in self._store.subscribe(after_position=self.position):
                    self._bus.publish(item)
                    self.position = item.position
            except StoreClosed:
                log.info("the store closed: the log follower stops at %d", self.position)
                return
            except Exception:
                log.exception("following the log failed after %d; subscribing again", self.position)
                await asyncio.sleep(self._retry)
