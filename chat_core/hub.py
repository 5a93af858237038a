"""Hand the log's events to bounded per-client buffers, one stream each.

The hub subscribes to the bus, which the process's one log follower feeds (see
`chat_core.bootstrap`), so every live event reaches it once, whoever appended it.

Errors:
    StreamClosed          the subscription ended; the client resumes by version
    ├── SlowConsumer      the client fell a whole buffer behind
    └── HubStopped        the server is shutting down
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Callable

from events.store.base import EventStore, RecordedEvent

__all__ = [
    "HubStopped",
    "SlowConsumer",
    "StreamClosed",
    "StreamHub",
    "Subscription",
    "follow_stream",
]

CATCH_UP_PAGE = 500


class StreamClosed(Exception):
    """The subscription ended; what was delivered stands and the client resumes after it."""


class SlowConsumer(StreamClosed):
    """The client's buffer overflowed, so it was cut off rather than let it stall others."""


class HubStopped(StreamClosed):
    """The hub stopped: the server is shutting down."""


class Subscription:
    """One client's bounded buffer of a stream's live events."""

    __slots__ = ("_capacity", "_closed", "_items", "_waiter", "on_cut", "stream")

    def __init__(self, stream: str, capacity: int) -> None:
        self.stream = stream
        # Called when the hub cuts this client off, so a writer blocked on it can be freed.
        self.on_cut: Callable[[], None] | None = None
        self._capacity = capacity
        self._items: deque[RecordedEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed: StreamClosed | None = None

    @property
    def closed(self) -> bool:
        """Tell whether the subscription has ended."""
        return self._closed is not None

    def offer(self, item: RecordedEvent) -> bool:
        """Buffer a live event; past capacity, drop the buffer and end with SlowConsumer."""
        if self._closed is not None:
            return False
        if len(self._items) >= self._capacity:
            self.close(SlowConsumer(f"more than {self._capacity} events behind"))
            if self.on_cut is not None:
                self.on_cut()
            return False
        self._items.append(item)
        self._wake()
        return True

    def close(self, reason: StreamClosed) -> None:
        """End the subscription; the reader gets reason once its buffer is dropped."""
        if self._closed is None:
            self._closed = reason
            self._items.clear()
            self._wake()

    async def next(self, idle: float | None = None) -> RecordedEvent | None:
        """Return the next buffered event, or None after idle seconds without one.

        Raise the reason once closed.
        """
        if not self._items:
            if self._closed is not None:
                raise self._closed
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(idle):
                    await self._waiter
            except TimeoutError:
                return None
            finally:
                self._waiter = None
            if not self._items:
                assert self._closed is not None
                raise self._closed
        return self._items.popleft()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class StreamHub:
    """Hand each recorded event to the subscriptions of its stream; cut off, never wait."""

    def __init__(self) -> None:
        self._streams: dict[str, dict[Subscription, None]] = {}
        self._stopped = False

    @property
    def subscriber_count(self) -> int:
        """Count the open subscriptions."""
        return sum(len(subscribers) for subscribers in self._streams.values())

    def open(self, stream: str, capacity: int) -> Subscription:
        """Start buffering a stream's live events for one client, up to capacity of them."""
        subscription = Subscription(stream, capacity)
        if self._stopped:
            subscription.close(HubStopped("the server is shutting down"))
        else:
            self._streams.setdefault(stream, {})[subscription] = None
        return subscription

    def release(self, subscription: Subscription) -> None:
        """Forget a subscription whose client has gone."""
        subscribers = self._streams.get(subscription.stream)
        if subscribers is not None:
            subscribers.pop(subscription, None)
            if not subscribers:
                del self._streams[subscription.stream]

    def dispatch(self, item: RecordedEvent) -> None:
        """Offer one event to its stream's subscribers; a full one is cut off, never waited on."""
        subscribers = self._streams.get(item.event.stream)
        if not subscribers:
            return
        for subscription in [s for s in subscribers if not s.offer(item)]:
            self.release(subscription)

    def stop(self) -> None:
        """End every subscription with HubStopped and refuse new ones."""
        self._stopped = True
        streams, self._streams = self._streams, {}
        for subscribers in streams.values():
            for subscription in subscribers:
                subscription.close(HubStopped("the server is shutting down"))


async def follow_stream(
    store: EventStore,
    subscription: Subscription,
    *,
    after_version: int,
    idle: float | None = None,
    page: int = CATCH_UP_PAGE,
) -> AsyncGenerator[RecordedEvent | None, None]:
    """Yield a stream's events after a version from the store, then live, each once, in order.

    The subscription is open before the store is read, so an event is either read or
    buffered; versions drop what is both, and a gap in the buffer is read from the store.
    None is yielded after idle seconds without an event, so the caller can keep alive.
    """
    last = after_version
    while True:
        while True:
            batch = await store.read_stream(subscription.stream, after_version=last, limit=page)
            for item in batch:
                yield item
                last = item.event.version
            if len(batch) < page:
                break
        while True:
            live = await subscription.next(idle)
            if live is None:
                yield None
                continue
            version = live.event.version
            if version <= last:
                continue
            if version > last + 1:
                break
            yield live
            last = version
