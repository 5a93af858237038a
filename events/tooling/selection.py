"""Which part of a log a tool reads, and reading it page by page or following it live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from attrs import frozen

from events.store.base import EventFilter, EventStore, RecordedEvent

__all__ = ["Progress", "Selection", "follow_selection", "read_selection"]

Progress = Callable[[int], None]
POLL_SECONDS = 0.5


@frozen(kw_only=True)
class Selection:
    """Events strictly between two positions that pass a filter."""

    after: int = 0
    before: int | None = None
    event_filter: EventFilter | None = None


def read_selection(store: EventStore, selection: Selection) -> AsyncIterator[RecordedEvent]:
    """Stream the selected events in position order, never holding more than a page."""
    return store.read_all(
        after_position=selection.after,
        before_position=selection.before,
        event_filter=selection.event_filter,
    )


async def follow_selection(
    store: EventStore, selection: Selection, *, poll_seconds: float = POLL_SECONDS
) -> AsyncIterator[RecordedEvent]:
    """Yield the selected events, then each new one, polling the head so other writers count."""
    # A store's own subscription only wakes on appends made in this process; a tool
    # watching a server's log must see the server's appends, so it polls the head.
    position = selection.after
    while selection.before is None or position + 1 < selection.before:
        head = await store.head_position()
        if selection.before is not None:
            head = min(head, selection.before - 1)
        if head > position:
            async for item in store.read_all(
                after_position=position,
                before_position=head + 1,
                event_filter=selection.event_filter,
            ):
                yield item
            position = head
        else:
            await asyncio.sleep(poll_seconds)
