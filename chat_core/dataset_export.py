"""Write a log's threads as dataset lines (chat or preference), one thread at a time.

A thread's lines need its whole tree, so the log is read stream by stream, in the order
of stream names: each thread's events are folded into a ThreadTree, its lines are
written, and the tree is dropped before the next thread is read. Memory is bounded by
the largest thread, not by the log. A SQLite log is read as stored rows over its
(stream, version) index (the JSON Lines export's row path: RowChecker, the view's
payload_data); any other store through list_streams and read_stream. Both give the same
records, so the same bytes. Payloads are opened, or withdrawn, by ChatExportView, as the
events export shows them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import orjson
from attrs import frozen

from chat_core.dataset_tree import FOLDED_TYPES, ThreadTree
from chat_core.export_view import ChatExportView
from events.codec import EventCodec
from events.keys import KeyNotLoaded
from events.store.base import EventFilter, EventStore
from events.store.raw import RawRow, SQLiteRawLog
from events.store.sqlite_row_checker import RowChecker
from events.store.sqlite_rows import RowDecoder
from events.tooling.export import Sink
from events.tooling.selection import Progress

__all__ = [
    "Lines",
    "ThreadSelection",
    "export_threads",
    "sqlite_threads",
    "store_threads",
]

THREAD_PREFIX = "chat/"
# Stream names per list_streams call, events per read_stream call.
PAGE = 1000
# Bytes of lines gathered before a write, and events read before the progress bar moves.
FLUSH_BYTES = 1 << 16
PROGRESS_STEP = 1000

Lines = Callable[[ThreadTree], Iterator[dict[str, Any]]]


@frozen(kw_only=True)
class ThreadSelection:
    """The threads the tenant, env and stream filters pick, as ranges of stream names."""

    tenants: frozenset[str] = frozenset()
    envs: frozenset[str] = frozenset()
    streams: frozenset[str] = frozenset()

    @classmethod
    def of(cls, event_filter: EventFilter | None) -> ThreadSelection:
        """Return the threads an event filter picks (its types and times pick no thread)."""
        if event_filter is None:
            return cls()
        return cls(
            tenants=event_filter.tenants,
            envs=frozenset(str(env) for env in event_filter.envs),
            streams=event_filter.streams,
        )

    def ranges(self) -> list[tuple[str, str]]:
        """Return (first, end) ranges of stream names, in name order, that hold the threads."""
        if self.streams:
            wanted = sorted(name for name in self.streams if name.startswith(THREAD_PREFIX))
            return [(name, name + "\x00") for name in wanted]
        if self.tenants:
            prefixes = sorted(f"{THREAD_PREFIX}{tenant}/" for tenant in self.tenants)
            return [(prefix, prefix[:-1] + "0") for prefix in prefixes]
        return [(THREAD_PREFIX, THREAD_PREFIX[:-1] + "0")]

    def tree(self, stream: str) -> ThreadTree | None:
        """Return an empty tree for a stream these threads hold, None for any other."""
        parts = stream.split("/", 3)
        if len(parts) != 4 or parts[0] + "/" != THREAD_PREFIX:
            return None
        _, tenant, env, thread_id = parts
        if self.tenants and tenant not in self.tenants:
            return None
        if self.envs and env not in self.envs:
            return None
        return ThreadTree(thread_id=thread_id, tenant=tenant, env=env)


async def export_threads(
    threads: AsyncIterator[tuple[ThreadTree, int]],
    out: Sink,
    lines: Lines,
    *,
    progress: Progress | None = None,
) -> int:
    """Write each thread's lines as JSON Lines and return how many were written."""
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    written = pending = 0
    buffer = bytearray()
    async for tree, events in threads:
        for line in lines(tree):
            buffer += dumps(line, option=newline)
            written += 1
        if len(buffer) >= FLUSH_BYTES:
            out.write(buffer)
            buffer = bytearray()
        pending += events
        if progress is not None and pending >= PROGRESS_STEP:
            progress(pending)
            pending = 0
    out.write(buffer)
    if progress is not None and pending:
        progress(pending)
    return written


async def store_threads(
    store: EventStore, view: ChatExportView, selection: ThreadSelection
) -> AsyncIterator[tuple[ThreadTree, int]]:
    """Yield each selected thread's tree, folded from its stream, and the events it read."""
    for first, end in selection.ranges():
        async for stream in _names(store, first, end):
            tree = selection.tree(stream)
            if tree is None:
                continue
            events = await _fold_stream(store, view, stream, tree)
            if events:
                yield tree, events


async def _names(store: EventStore, first: str, end: str) -> AsyncIterator[str]:
    if end == first + "\x00":
        yield first
        return
    after = first
    while True:
        names = await store.list_streams(after=after, limit=PAGE)
        for name in names:
            if name >= end:
                return
            yield name
        if len(names) < PAGE:
            return
        after = names[-1]


async def _fold_stream(
    store: EventStore, view: ChatExportView, stream: str, tree: ThreadTree
) -> int:
    version = events = 0
    while True:
        batch = await store.read_stream(stream, after_version=version, limit=PAGE)
        await view.prepare(batch)
        for item in batch:
            event = item.event
            if event.type in FOLDED_TYPES:
                occurred_at = event.occurred_at.isoformat()
                payload = view.payload(item)
                tree.add(event.type, item.position, occurred_at, payload, event.actor)
        events += len(batch)
        if len(batch) < PAGE:
            return events
        version = batch[-1].event.version


async def sqlite_threads(
    raw: SQLiteRawLog,
    codec: EventCodec,
    view: ChatExportView,
    selection: ThreadSelection,
    *,
    ranges: list[tuple[str, str]] | None = None,
) -> AsyncIterator[tuple[ThreadTree, int]]:
    """Yield what store_threads yields, from a SQLite log's rows in stream order.

    ranges, when given, are the part of selection.ranges() to read (a worker's chunk).
    """
    rows = _RowFolder(codec, view)
    for first, end in selection.ranges() if ranges is None else ranges:
        stream: str | None = None
        tree: ThreadTree | None = None
        events = 0
        async for page in raw.stream_rows(first=first, end=end):
            # The keys of the page's authors, fetched once: every row then folds at once.
            await view.prepare_subjects({(row[6], row[10]) for row in page})
            for row in page:
                if row[2] != stream:
                    if tree is not None:
                        yield tree, events
                    stream, tree, events = row[2], selection.tree(row[2]), 0
                events += 1
                if tree is not None and row[4] in FOLDED_TYPES and not rows.fold(tree, row):
                    # Its author's keys were let go from the ring's cache meanwhile.
                    await view.prepare_subjects([(row[6], row[10])])
                    if not rows.fold(tree, row):
                        raise RuntimeError(f"the export view was not ready at {row[0]}")
        if tree is not None:
            yield tree, events


class _RowFolder:
    """Fold stored rows into a tree, as export_rows turns them into records."""

    def __init__(self, codec: EventCodec, view: ChatExportView) -> None:
        self._checker = RowChecker(codec)
        self._decoder = RowDecoder(codec)
        self._view = view

    def fold(self, tree: ThreadTree, row: RawRow) -> bool:
        """Fold one row of a folded type into the tree; False when its author's keys are not
        fetched (fetch them, then fold it again)."""
        record = self._checker.record(row)
        view = self._view
        if record is None:
            # A row the checker is unsure of is decoded (or refused) as read_all would.
            item = self._decoder.decode([row])[0]
            try:
                payload = view.payload(item)
            except KeyNotLoaded:
                return False
            tree.add(row[4], row[0], item.event.occurred_at.isoformat(), payload, row[10])
            return True
        shown: dict[str, Any] | None = record["payload"]
        if row[4] in view.row_types:
            shown = view.payload_data(row[4], row[6], row[10], record["payload"])
        if shown is None:
            return False
        tree.add(row[4], row[0], record["occurred_at"], shown, row[10])
        return True
