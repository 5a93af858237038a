"""Write a log's events as JSON Lines: one envelope per line, in position order, upcast."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol, cast

import orjson

from events.codec import EventCodec
from events.store.base import EventStore, RecordedEvent
from events.tooling.selection import Progress, Selection, read_selection

__all__ = ["PayloadView", "Sink", "export_events", "export_record", "open_export"]

BATCH = 2000
GZIP_LEVEL = 6


class Sink(Protocol):
    """Where export lines are written: a file, a gzip stream or standard output."""

    def write(self, data: bytes | bytearray, /) -> int:
        """Write bytes."""
        ...


class PayloadView(Protocol):
    """How a domain shows its payloads in an export: opened, withdrawn, never raw."""

    async def prepare(self, items: list[RecordedEvent], /) -> None:
        """Fetch what showing these events will need (keys, say), before they are shown."""
        ...

    def payload(self, item: RecordedEvent, /) -> dict[str, Any]:
        """Return an event's payload as the export shows it."""
        ...


def export_record(
    codec: EventCodec, item: RecordedEvent, view: PayloadView | None = None
) -> dict[str, Any]:
    """Return one event's export object, envelope fields at the top level, position included."""
    event = item.event
    return {
        "event_id": str(event.event_id),
        "type": event.type,
        "schema_version": event.schema_version,
        "stream": event.stream,
        "version": event.version,
        "position": item.position,
        "tenant": event.tenant,
        "env": event.env.value,
        "request_id": event.request_id,
        "trace_id": event.trace_id,
        "actor": event.actor,
        "occurred_at": event.occurred_at.isoformat(),
        "payload": (
            codec.converter.unstructure(event.payload) if view is None else view.payload(item)
        ),
        "metadata": dict(event.metadata),
    }


@contextmanager
def open_export(target: str | Path, stdout: IO[bytes]) -> Iterator[Sink]:
    """Open where the export goes: stdout for '-', gzip when the name ends in .gz."""
    if str(target) == "-":
        yield stdout
        stdout.flush()
        return
    path = Path(target)
    with path.open("wb") as raw:
        if path.suffix == ".gz":
            # No name and no time in the header, so one log always gives the same bytes.
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0
            ) as zipped:
                yield cast(Sink, zipped)
        else:
            with io.BufferedWriter(raw, buffer_size=1 << 20) as buffered:
                yield buffered


async def export_events(
    store: EventStore,
    codec: EventCodec,
    selection: Selection,
    out: Sink,
    *,
    progress: Progress | None = None,
    view: PayloadView | None = None,
) -> int:
    """Write every selected event as one JSON line and return how many were written."""
    items: list[RecordedEvent] = []
    count = 0
    async for item in read_selection(store, selection):
        items.append(item)
        if len(items) == BATCH:
            count += await _write(codec, items, out, progress, view)
    count += await _write(codec, items, out, progress, view)
    return count


async def _write(
    codec: EventCodec,
    items: list[RecordedEvent],
    out: Sink,
    progress: Progress | None,
    view: PayloadView | None,
) -> int:
    written = len(items)
    if not written:
        return 0
    if view is not None:
        await view.prepare(items)
    # Each line joins the batch as soon as it is made: glibc serves orjson's output buffers
    # from mmap while many are alive, so holding a batch of them costs ~10x the encoding.
    lines = bytearray()
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    for item in items:
        lines += dumps(export_record(codec, item, view), option=newline)
    items.clear()
    out.write(lines)
    if progress is not None:
        progress(written)
    return written
