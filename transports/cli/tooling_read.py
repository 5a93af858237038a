"""The reading commands: events (list or follow), export and stats."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

import orjson

from chat_core.export_view import ChatExportView, ChatViewOpener, redacted_messages
from events.codec import EventCodec
from events.crypto import MasterKey
from events.keys import KeyRing, open_key_store
from events.store.base import EventStore, RecordedEvent
from events.store.url import sqlite_path
from events.tooling import (
    Selection,
    export_events,
    export_record,
    follow_selection,
    log_stats,
    open_export,
    read_selection,
)
from events.tooling.parallel import ParallelLog
from events.tooling.parallel_export import export_parallel
from events.tooling.parquet_export import export_parquet
from transports.cli.dataset_cli import DATASET_FORMATS, run_dataset_export
from transports.cli.keys_cli import configured_master_key
from transports.cli.progress import progress_bar
from transports.cli.tooling_args import selection_of, store_url

__all__ = ["run_events", "run_export", "run_stats"]


def _line(item: RecordedEvent) -> str:
    event = item.event
    return (
        f"{item.position:>9}  {event.occurred_at.isoformat(timespec='milliseconds')}  "
        f"{event.tenant}/{event.env.value}  {event.type}  {event.stream}@{event.version}  "
        f"{event.request_id}"
    )


async def run_events(
    args: argparse.Namespace, store: EventStore, codec: EventCodec, out: TextIO
) -> int:
    """Print the selected events one per line; with --follow, keep printing new ones."""
    selection = selection_of(args)
    items = follow_selection(store, selection) if args.follow else read_selection(store, selection)
    async for item in items:
        text = orjson.dumps(export_record(codec, item)).decode() if args.json else _line(item)
        out.write(text + "\n")
        if args.follow:
            out.flush()
    return 0


async def run_export(
    args: argparse.Namespace, store: EventStore, codec: EventCodec, out: TextIO
) -> int:
    """Write the selected events as JSON Lines to a file (gzip by .gz) or to stdout."""
    selection = selection_of(args)
    url = store_url(args)
    export_format = getattr(args, "format", "events")
    rating = getattr(args, "min_rating", None)
    chat_flags = rating is not None or getattr(args, "paths", "leaves") != "leaves"
    if chat_flags and export_format not in DATASET_FORMATS:
        raise ValueError("--paths and --min-rating apply to --format chat")
    if export_format in DATASET_FORMATS:
        lines = await run_dataset_export(args, store, codec, selection, url)
        if args.output != "-":
            out.write(f"exported {lines} lines to {args.output}\n")
        return 0
    parquet = export_format == "parquet"
    if parquet and args.output == "-":
        raise ValueError("--format parquet writes a file: give -o FILE.parquet")
    total = None if selection.event_filter else await store.head_position() - selection.after
    # Messages are opened with their authors' keys, and shown withdrawn once redacted or erased.
    master = configured_master_key(url)
    redacted = await redacted_messages(store)
    plan = None
    if parquet:
        count = await _export_parquet(store, codec, selection, args.output, master, redacted, url)
        out.write(f"exported {count} events to {args.output}\n")
        return 0
    if url.startswith("sqlite:"):
        plan = ParallelLog.of(sqlite_path(url), codec, selection, jobs=args.jobs)
    with progress_bar("export", total=total) as progress:
        if plan is None:
            keys = KeyRing(await open_key_store(url), master)
            view = ChatExportView(keys=keys, redacted=redacted, converter=codec.converter)
            try:
                with open_export(args.output, sys.stdout.buffer) as sink:
                    count = await export_events(
                        store, codec, selection, sink, progress=progress, view=view
                    )
            finally:
                await keys.store.close()
        else:
            opener = ChatViewOpener(
                key_store_url=url, master_secret=master.secret, redacted=frozenset(redacted)
            )
            count = await _export_parallel(plan, selection, args.output, progress, opener)
    if args.output != "-":
        out.write(f"exported {count} events to {args.output}\n")
    return 0


async def _export_parquet(
    store: EventStore,
    codec: EventCodec,
    selection: Selection,
    output: str,
    master: MasterKey,
    redacted: set[str],
    url: str,
) -> int:
    total = None if selection.event_filter else await store.head_position() - selection.after
    keys = KeyRing(await open_key_store(url), master)
    view = ChatExportView(keys=keys, redacted=redacted, converter=codec.converter)
    try:
        with progress_bar("export", total=total) as progress:
            return await export_parquet(
                store, codec, selection, output, progress=progress, view=view
            )
    finally:
        await keys.store.close()


async def _export_parallel(
    plan: ParallelLog,
    selection: Selection,
    output: str,
    progress: Callable[[int], None],
    opener: ChatViewOpener,
) -> int:
    with open_export(output, sys.stdout.buffer) as sink:
        # Chunk files beside a named output: on its file system, not in a small /tmp.
        scratch = None if output == "-" else str(Path(output).parent)
        return await export_parallel(
            plan, selection, sink, progress=progress, view=opener, scratch=scratch
        )


async def run_stats(
    args: argparse.Namespace, store: EventStore, codec: EventCodec, out: TextIO
) -> int:
    """Print the selected events' counts per tenant, env and type as a table."""
    selection = selection_of(args)
    total = None if selection.event_filter else await store.head_position() - selection.after
    with progress_bar("stats", total=total) as progress:
        stats = await log_stats(store, selection, progress=progress)
    header = ("tenant", "env", "type", "events", "first", "last")
    rows = [
        (tenant, env, type_, f"{row.count:,}", _time(row.first), _time(row.last))
        for (tenant, env, type_), row in stats.sorted_rows()
    ]
    rows.append(("total", "", "", f"{stats.total:,}", "", ""))
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for cells in (header, *rows):
        pairs = enumerate(zip(cells, widths, strict=True))
        padded = [_cell(cell, width, index == 3) for index, (cell, width) in pairs]
        out.write("  ".join(padded).rstrip() + "\n")
    for label, index in (("tenant", 0), ("env", 1), ("type", 2)):
        counts = ", ".join(f"{name} {count:,}" for name, count in stats.totals_by(index).items())
        out.write(f"per {label}: {counts or 'none'}\n")
    return 0


def _time(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _cell(cell: str, width: int, numeric: bool) -> str:
    return cell.rjust(width) if numeric else cell.ljust(width)
