"""Write a log's events as JSON Lines: one envelope per line, in position order, upcast."""

from __future__ import annotations

import gzip
import io
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol, cast, runtime_checkable

import orjson

from events.codec import EventCodec
from events.store.base import EventFilter, EventStore, RecordedEvent
from events.store.sqlite_row_checker import RowChecker
from events.store.sqlite_rows import RowDecoder
from events.tooling.selection import Progress, Selection, read_selection

__all__ = [
    "PayloadView",
    "RowPayloadView",
    "RowSource",
    "Sink",
    "export_events",
    "export_record",
    "export_rows",
    "open_export",
]

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


@runtime_checkable
class RowPayloadView(Protocol):
    """A PayloadView that can also show payloads straight from stored rows."""

    # The event types whose payloads the view changes; the others are shown as decoded.
    row_types: frozenset[str]

    async def prepare(self, items: list[RecordedEvent], /) -> None:
        """As PayloadView.prepare."""
        ...

    def payload(self, item: RecordedEvent, /) -> dict[str, Any]:
        """As PayloadView.payload."""
        ...

    async def prepare_subjects(self, subjects: Iterable[tuple[str, str]], /) -> None:
        """Fetch what showing events of row_types by these (tenant, actor) will need."""
        ...

    def payload_data(
        self, event_type: str, tenant: str, actor: str, data: dict[str, Any], /
    ) -> dict[str, Any] | None:
        """Return, as payload() would, a payload of row_types given in its exported form.

        None asks for prepare_subjects([(tenant, actor)]) first.
        """
        ...


@runtime_checkable
class RowSource(Protocol):
    """A store that hands out its rows as stored (see SQLiteEventStore.read_rows)."""

    def read_rows(
        self,
        *,
        after_position: int = 0,
        before_position: int | None = None,
        event_filter: EventFilter | None = None,
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Yield pages of rows in position order."""
        ...


def export_record(
    codec: EventCodec, item: RecordedEvent, view: PayloadView | None = None
) -> dict[str, Any]:
    """Return one event's export object, envelope fields at the top level, position included."""
    payload = None if view is None else view.payload(item)
    return codec.to_dict(item.event, position=item.position, payload=payload)


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
    if isinstance(store, RowSource) and (view is None or isinstance(view, RowPayloadView)):
        return await export_rows(store, codec, selection, out, progress, view)
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


async def export_rows(
    store: RowSource,
    codec: EventCodec,
    selection: Selection,
    out: Sink,
    progress: Progress | None,
    view: RowPayloadView | None,
) -> int:
    """Export from stored rows: the lines export_record would give, without building events.

    A row the checker is sure of (every field passes the decoder's own quick tests) becomes
    its line straight away; any other row is decoded as read_all decodes it, and exported,
    or refused, as before.
    """
    checker, decoder = RowChecker(codec), RowDecoder(codec)
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    exported = checker.record
    row_types = frozenset() if view is None else view.row_types
    count = 0
    async for page in store.read_rows(
        after_position=selection.after,
        before_position=selection.before,
        event_filter=selection.event_filter,
    ):
        lines = bytearray()
        for row in page:
            record = exported(row)
            if record is None:
                if view is not None and row[4] in row_types:
                    await view.prepare_subjects([(row[6], row[10])])
                record = export_record(codec, decoder.decode([row])[0], view)
            elif view is not None and row[4] in row_types:
                shown = view.payload_data(row[4], row[6], row[10], record["payload"])
                if shown is None:
                    # Prepared on first sight: the view keeps what it fetched.
                    await view.prepare_subjects([(row[6], row[10])])
                    shown = view.payload_data(row[4], row[6], row[10], record["payload"])
                    if shown is None:
                        raise RuntimeError(f"the export view was not ready at {row[0]}")
                record["payload"] = shown
            lines += dumps(record, option=newline)
        out.write(lines)
        count += len(page)
        if progress is not None:
            progress(len(page))
    return count
