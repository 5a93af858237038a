"""One handler per command; event subscribers fail alone."""

from __future__ import annotations

import logging

import attrs
import pytest

from events.bus import BusError, Command, MessageBus
from events.store.base import RecordedEvent
from tests.events.factories import make_event


@attrs.frozen
class Greet(Command[str]):
    """Ask for a greeting."""

    name: str


@attrs.frozen
class Unhandled(Command[None]):
    """A command nobody handles."""


async def greet(command: Greet) -> str:
    """Return a greeting."""
    return f"hello {command.name}"


async def test_the_one_handler_answers() -> None:
    bus = MessageBus()
    bus.register(Greet, greet)
    assert await bus.send(Greet("ada")) == "hello ada"


def test_a_second_handler_is_refused() -> None:
    bus = MessageBus()
    bus.register(Greet, greet)
    with pytest.raises(BusError):
        bus.register(Greet, greet)


async def test_sending_an_unregistered_command_raises() -> None:
    with pytest.raises(BusError):
        await MessageBus().send(Unhandled())


async def test_a_failing_subscriber_fails_alone(caplog: pytest.LogCaptureFixture) -> None:
    bus = MessageBus()
    seen: list[str] = []

    async def broken(item: RecordedEvent) -> None:
        raise RuntimeError("subscriber bug")

    async def typed(item: RecordedEvent) -> None:
        seen.append(f"typed {item.position}")

    async def every(item: RecordedEvent) -> None:
        seen.append(f"every {item.position}")

    bus.subscribe(broken)
    bus.subscribe(typed, event_type="test.noted")
    bus.subscribe(every)
    recorded = [RecordedEvent(event=make_event("s", n), position=n) for n in (1, 2)]
    with caplog.at_level(logging.ERROR, logger="events.bus"):
        await bus.publish(recorded)
    assert seen == ["typed 1", "every 1", "typed 2", "every 2"]
    assert sum("subscriber" in r.getMessage() for r in caplog.records) == 2
