"""Render recorded events as the streams' JSON, once per event however many clients get it.

A posted message's data comes from the thread's read model, so a stream that replays it
after a redaction or an erasure shows it withdrawn, never its stored (sealed) bytes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson

from chat_core.batches import stream_event
from chat_core.presenter import EventPresenter
from chat_core.views import kept_json
from events.store.base import RecordedEvent

__all__ = ["EventRenderer", "event_shape"]

event_shape = stream_event


class EventRenderer:
    """Encode events as `{"type", "version", "position", ...}`, caching the newest ones."""

    def __init__(self, presenter: EventPresenter, *, capacity: int = 1024) -> None:
        self._presenter = presenter
        self._capacity = capacity
        self._cache: OrderedDict[int, tuple[object, bytes]] = OrderedDict()

    async def to_json(self, item: RecordedEvent) -> dict[str, Any]:
        """Return the stream shape of one event as plain data."""
        data, _token = await self._presenter.data(item)
        return self._shape(item, data)

    _shape = staticmethod(event_shape)

    async def encode(self, item: RecordedEvent) -> bytes:
        """Return the event's JSON bytes; a live event fanned out to many is encoded once."""
        data, token = await self._presenter.data(item)
        cached = self._cache.get(item.position)
        if cached is not None and cached[0] is token:
            return cached[1]
        encoded = kept_json(self._shape(item, data))
        self._cache[item.position] = (token, encoded)
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return encoded

    async def sse_frame(self, item: RecordedEvent) -> bytes:
        """Return one Server-Sent Event: id (the version), event (the type) and data."""
        event = item.event
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (
            event.version,
            event.type.encode(),
            await self.encode(item),
        )

    async def ws_frame(self, thread_id: str, item: RecordedEvent) -> bytes:
        """Return one WebSocket event frame for a thread."""
        return b'{"op":"event","thread_id":%s,"event":%s}' % (
            orjson.dumps(thread_id),
            await self.encode(item),
        )
