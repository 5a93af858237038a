"""Batches of the log in the streams' shape, as durable consumers and webhooks send them.

A batch opens messages as exports do, never with their sealed bytes: words, or withdrawn
once redacted or erased. A thread's read model would know the same, but loading one per
thread of the batch costs a read each; the batch's redactions are one indexed read after
its first message or chunk (a redaction follows what it withdraws, and a reply's chunks
are withdrawn with it), and erasures are the key ring's.
On a store that hands out its rows (SQLite), a batch is built from them as the JSON Lines
export builds its records, without building the events, whenever the row checker is sure
of a row; any other row is decoded as read_all decodes it.

A private thread is a 404 to everyone outside it, admins included, so its events never
reach a batch (PrivateThreads): a consumer's position still moves past them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import orjson

from chat_core.export_view import ChatExportView
from chat_core.payloads import MessageChunk, MessagePosted, MessageRedacted, ThreadCreated
from chat_core.views import rfc3339
from events.codec import EventCodec
from events.envelope import Env
from events.keys import KeyRing
from events.store.base import EventFilter, EventStore, RecordedEvent
from events.store.sqlite_row_checker import RowChecker
from events.store.sqlite_rows import RowDecoder
from events.tooling.export import RowSource

__all__ = [
    "Events",
    "PrivateThreads",
    "Shown",
    "read_batch",
    "shape_rows",
    "show_events",
    "stream_event",
]

Events = list[RecordedEvent]
Shown = list[tuple[RecordedEvent, dict[str, Any]]]
Row = tuple[Any, ...]
# What a redaction withdraws: a message's words, and the chunks it was written in.
_WITHDRAWABLE = (MessagePosted, MessageChunk)
_WITHDRAWABLE_TYPES = frozenset(kind.event_type for kind in _WITHDRAWABLE)
_CREATED = ThreadCreated.event_type


class PrivateThreads:
    """Tell which thread streams are private: fixed when a thread is created, so each is read
    once (its first event) and kept, the newest `size` of them."""

    def __init__(self, store: EventStore, *, size: int = 100_000) -> None:
        self._store = store
        self._size = size
        self._known: OrderedDict[str, bool] = OrderedDict()

    def learn(self, stream: str, visibility: str) -> None:
        """Note a thread's visibility from its created event (a batch's, read anyway)."""
        self._remember(stream, visibility != "tenant")

    def _remember(self, stream: str, hidden: bool) -> None:
        known = self._known
        known[stream] = hidden
        if len(known) > self._size:
            known.popitem(last=False)

    async def among(self, streams: Iterable[str]) -> set[str]:
        """Return the private ones among these streams (a stream no thread opened is not)."""
        private = set()
        known = self._known
        for stream in set(streams):
            if not stream.startswith("chat/"):
                continue
            hidden = known.get(stream)
            if hidden is None:
                hidden = await self._read(stream)
                self._remember(stream, hidden)
            if hidden:
                private.add(stream)
        return private

    async def _read(self, stream: str) -> bool:
        first = await self._store.read_stream(stream, limit=1)
        if not first:
            return False
        payload = first[0].event.payload
        # Anything but a thread open to its tenant is withheld: unknown reads as private.
        return isinstance(payload, ThreadCreated) and payload.visibility != "tenant"


async def show_events(
    store: EventStore, keys: KeyRing, codec: EventCodec, events: Events, private: PrivateThreads
) -> Shown:
    """Pair each event with its data as clients may see it, leaving out private threads'."""
    for item in events:
        payload = item.event.payload
        if type(payload) is ThreadCreated:
            private.learn(item.event.stream, payload.visibility)
    hidden = await private.among(item.event.stream for item in events)
    if hidden:
        events = [item for item in events if item.event.stream not in hidden]
    first = next((item for item in events if type(item.event.payload) in _WITHDRAWABLE), None)
    if first is None:
        view = ChatExportView(keys=keys, redacted=set(), converter=codec.converter)
    else:
        event = first.event
        view = await _view(store, keys, codec, event.tenant, event.env.value, first.position)
    await view.prepare(events)
    return [(item, view.payload(item)) for item in events]


def stream_event(item: RecordedEvent, data: dict[str, Any]) -> dict[str, Any]:
    """Return the streams' shape of one event, given its data as clients may see it."""
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
        "data": data,
    }


async def read_batch(
    store: EventStore,
    keys: KeyRing,
    codec: EventCodec,
    event_filter: EventFilter,
    private: PrivateThreads,
    *,
    after_position: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """Return up to limit events after a position in the streams' shape, and the last position.

    The last position is the last one read, shown or withheld (a private thread's).
    """
    if isinstance(store, RowSource):
        rows = await _rows(store, event_filter, after_position, limit)
        if not rows:
            return [], after_position
        last = rows[-1][0]
        for row in rows:
            if row[4] == _CREATED:
                private.learn(row[2], orjson.loads(row[12]).get("visibility", "tenant"))
        hidden = await private.among(row[2] for row in rows)
        if hidden:
            rows = [row for row in rows if row[2] not in hidden]
        shaped, _decoded = await shape_rows(store, keys, codec, rows)
        return shaped, last
    events = [
        item
        async for item in store.read_all(
            after_position=after_position, event_filter=event_filter, limit=limit
        )
    ]
    shown = await show_events(store, keys, codec, events, private)
    last = events[-1].position if events else after_position
    return [stream_event(item, data) for item, data in shown], last


async def _view(
    store: EventStore, keys: KeyRing, codec: EventCodec, tenant: str, env: str, after: int
) -> ChatExportView:
    """Build the view that opens a partition's messages posted after a position."""
    wanted = EventFilter(tenants={tenant}, envs={Env(env)}, types={MessageRedacted.event_type})
    redacted: set[str] = set()
    async for item in store.read_all(after_position=after, event_filter=wanted):
        payload = item.event.payload
        assert isinstance(payload, MessageRedacted)
        redacted.add(payload.message_id)
    return ChatExportView(keys=keys, redacted=redacted, converter=codec.converter)


async def _rows(
    store: RowSource, event_filter: EventFilter, after_position: int, limit: int
) -> list[Row]:
    rows: list[Row] = []
    pages = store.read_rows(after_position=after_position, event_filter=event_filter)
    try:
        async for page in pages:
            rows.extend(page[: limit - len(rows)])
            if len(rows) >= limit:
                break
    finally:
        await pages.aclose()  # type: ignore[attr-defined]
    return rows


async def shape_rows(
    store: EventStore, keys: KeyRing, codec: EventCodec, rows: list[Row]
) -> tuple[list[dict[str, Any]], int]:
    """Shape SQLite rows as stream events, the fast path; return them and how many were decoded.

    A row the checker is sure of is shaped in one pass: its payload in exported form
    (RowChecker.checked), opened by the view where words are sealed, and the envelope's
    columns as stored, with no event, export record or copy built between. Any other row
    is decoded and shown as the plain path (show_events, stream_event) shows it; the count
    is of those. tests/consumers/test_batches.py holds both paths to the same bytes.
    Against the export-record pass it replaced (RowChecker.record, then a copy into the
    streams' shape): 140,645 instructions per event read through the route against
    145,120 (-3.1%; python -m bench.consumer_instructions, app and client together).
    """
    first = next((row for row in rows if row[4] in _WITHDRAWABLE_TYPES), None)
    if first is None:
        view = ChatExportView(keys=keys, redacted=set(), converter=codec.converter)
    else:
        view = await _view(store, keys, codec, first[6], first[7], first[0])
    checker, decoder = RowChecker(codec), RowDecoder(codec)
    check, opened, show = checker.checked, view.row_types, view.payload_data
    shaped: list[dict[str, Any]] = []
    decoded = 0
    for row in rows:
        found = check(row)
        if found is None:
            (item,) = decoder.decode([row])
            await view.prepare([item])
            shaped.append(stream_event(item, view.payload(item)))
            decoded += 1
            continue
        data = found[0]
        position, event_id, _stream, version, event_type, _schema, tenant = row[:7]
        if event_type in opened:
            shown = show(event_type, tenant, row[10], data)
            if shown is None:
                await view.prepare_subjects([(tenant, row[10])])
                shown = show(event_type, tenant, row[10], data)
                if shown is None:
                    raise RuntimeError(f"the batch's view was not ready at {position}")
            data = shown
        hexed = event_id.hex()
        shaped.append(
            {
                "type": event_type,
                "version": version,
                "position": position,
                "event_id": f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}",
                "tenant": tenant,
                "env": row[7],
                "request_id": row[8],
                "occurred_at": found[1].replace("+00:00", "Z"),
                "data": data,
            }
        )
    return shaped, decoded
