"""Render recorded events as the streams' JSON, once per event however many clients get it."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson

from chat_core.views import rfc3339
from events.codec import EventCodec
from events.store.base import RecordedEvent

__all__ = ["EventRenderer"]


class EventRenderer:
    """Encode events as `{"type", "version", "position", ...}`, caching the newest ones."""

    def __init__(self, codec: EventCodec, *, capacity: int = 1024) -> None:
        self._codec = codec
        self._capacity = capacity
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    def to_json(self, item: RecordedEvent) -> dict[str, Any]:
        """Return the stream shape of one event as plain data."""
        event = item.event
        return {
            "type": event.type,
            "version": event.version,
            "position": item.position,
            "event_id": str(event.event_id),
            "tenant": event.tenant,
            "env": event.env.value,
            "request_id": event.request_id,
            "occurred_at": rfc3339(event.occurred_at),
            "data": self._codec.converter.unstructure(event.payload),
        }

    def encode(self, item: RecordedEvent) -> bytes:
        """Return the event's JSON bytes; a live event fanned out to many is encoded once."""
        cached = self._cache.get(item.position)
        if cached is not None:
            return cached
        encoded = orjson.dumps(self.to_json(item))
        self._cache[item.position] = encoded
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return encoded

    def sse_frame(self, item: RecordedEvent) -> bytes:
        """Return one Server-Sent Event: id (the version), event (the type) and data."""
        event = item.event
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (
            event.version,
            event.type.encode(),
            self.encode(item),
        )

    def ws_frame(self, thread_id: str, item: RecordedEvent) -> bytes:
        """Return one WebSocket event frame for a thread."""
        return b'{"op":"event","thread_id":%s,"event":%s}' % (
            orjson.dumps(thread_id),
            self.encode(item),
        )
