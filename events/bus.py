"""The typed in-process bus: one handler per command, any number of event subscribers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

from events.store.base import RecordedEvent

__all__ = ["BusError", "Command", "CommandHandler", "MessageBus", "Subscriber"]

R = TypeVar("R", covariant=True)
C = TypeVar("C", bound="Command[Any]")

log = logging.getLogger("events.bus")


class Command(Generic[R]):
    """Base of every command; R is what its handler returns."""

    __slots__ = ()


CommandHandler = Callable[[C], Awaitable[Any]]
Subscriber = Callable[[RecordedEvent], Awaitable[None]]


class BusError(Exception):
    """A command with no handler, or a second handler for one command type."""


class MessageBus:
    """Route each command to its one handler and each recorded event to its subscribers."""

    def __init__(self) -> None:
        self._handlers: dict[type[Any], Callable[[Any], Awaitable[Any]]] = {}
        self._subscribers: dict[str | None, list[Subscriber]] = {}

    def register(self, command_type: type[C], handler: Callable[[C], Awaitable[Any]]) -> None:
        """Make handler the one handler of command_type."""
        if command_type in self._handlers:
            raise BusError(f"{command_type.__name__} already has a handler")
        self._handlers[command_type] = handler

    def subscribe(self, subscriber: Subscriber, *, event_type: str | None = None) -> None:
        """Call subscriber after each committed event of event_type (or of every type)."""
        self._subscribers.setdefault(event_type, []).append(subscriber)

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

    async def publish(self, recorded: Iterable[RecordedEvent]) -> None:
        """Hand committed events to their subscribers; a failing subscriber fails alone."""
        if not self._subscribers:
            return  # the usual case: no per-event lookups for nobody
        for item in recorded:
            targets = self._subscribers.get(item.event.type, []) + self._subscribers.get(None, [])
            for subscriber in targets:
                try:
                    await subscriber(item)
                except Exception:
                    log.exception(
                        "subscriber %r failed on %s at position %d",
                        getattr(subscriber, "__qualname__", subscriber),
                        item.event.type,
                        item.position,
                    )
