"""One handler per command; event subscribers fail alone; the follower publishes the log."""

from __future__ import annotations

import asyncio
import logging

import attrs
import pytest

from events.bus import BusError, Command, LogFollower, MessageBus
from events.store.base import RecordedEvent
from events.store.memory import MemoryEventStore
from tests.events.factories import make_event, make_events


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


def test_a_failing_subscriber_fails_alone(caplog: pytest.LogCaptureFixture) -> None:
    bus = MessageBus()
    seen: list[str] = []

    def broken(item: RecordedEvent) -> None:
        raise RuntimeError("subscriber bug")

    def typed(item: RecordedEvent) -> None:
        seen.append(f"typed {item.position}")

    def every(item: RecordedEvent) -> None:
        seen.append(f"every {item.position}")

    bus.subscribe(broken)
    bus.subscribe(typed, event_type="test.noted")
    bus.subscribe(every)
    recorded = [RecordedEvent(event=make_event("s", n), position=n) for n in (1, 2)]
    with caplog.at_level(logging.ERROR, logger="events.bus"):
        for item in recorded:
            bus.publish(item)
    assert seen == ["typed 1", "every 1", "typed 2", "every 2"]
    assert sum("subscriber" in r.getMessage() for r in caplog.records) == 2


class Interrupted(BaseException):
    """Stands for what must never be swallowed: cancellation, KeyboardInterrupt, exit."""


def test_publish_lets_a_base_exception_through() -> None:
    bus = MessageBus()

    def interrupted(item: RecordedEvent) -> None:
        raise Interrupted

    bus.subscribe(interrupted)
    with pytest.raises(Interrupted):
        bus.publish(RecordedEvent(event=make_event("s", 1), position=1))


class _Collected:
    """A subscriber that keeps what it is given and lets a test wait for a count of them."""

    def __init__(self) -> None:
        self.positions: list[int] = []
        self._moved = asyncio.Event()

    def __call__(self, item: RecordedEvent) -> None:
        self.positions.append(item.position)
        self._moved.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.positions) < count:
                self._moved.clear()
                await self._moved.wait()


async def test_the_follower_publishes_the_log_after_its_start_then_live_once_each() -> None:
    store, bus, seen = MemoryEventStore(), MessageBus(), _Collected()
    await store.append("a", make_events("a", 1, 3), 0)
    bus.subscribe(seen)
    follower = LogFollower(store, bus)
    follower.start(after_position=1)
    await store.append("b", make_events("b", 1, 2), 0)
    await seen.wait_for(4)
    await store.append("a", make_events("a", 4, 1), 3)
    await seen.wait_for(5)
    assert seen.positions == [2, 3, 4, 5, 6]
    assert follower.position == 6
    await follower.stop()


async def test_a_subscriber_failing_under_the_follower_stops_neither_it_nor_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, bus, seen = MemoryEventStore(), MessageBus(), _Collected()

    def broken(item: RecordedEvent) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(seen, event_type="test.noted")
    follower = LogFollower(store, bus)
    follower.start(after_position=0)
    with caplog.at_level(logging.ERROR, logger="events.bus"):
        for version in (1, 2, 3):
            await store.append("s", make_events("s", version, 1), version - 1)
        await seen.wait_for(3)
    assert seen.positions == [1, 2, 3]
    assert sum("broken" in r.getMessage() for r in caplog.records) == 3
    assert follower.running
    await follower.stop()


async def test_stop_ends_the_follower_and_a_second_start_is_refused() -> None:
    store, bus = MemoryEventStore(), MessageBus()
    follower = LogFollower(store, bus)
    await follower.stop()  # never started: nothing to do
    follower.start(after_position=0)
    with pytest.raises(RuntimeError):
        follower.start(after_position=0)
    assert follower.running
    await follower.stop()
    await follower.stop()
    assert not follower.running
    assert "chat-core log follower" not in {task.get_name() for task in asyncio.all_tasks()}


async def test_the_follower_ends_by_itself_on_a_closed_store() -> None:
    store = MemoryEventStore()
    await store.close()
    follower = LogFollower(store, MessageBus())
    follower.start(after_position=0)
    (task,) = [t for t in asyncio.all_tasks() if t.get_name() == "chat-core log follower"]
    await asyncio.wait_for(task, 10)
    assert not task.cancelled()
    assert not follower.running
