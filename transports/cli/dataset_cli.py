"""export --format chat | preference: the log's conversations as dataset lines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

from chat_core.dataset_export import (
    Lines,
    ThreadSelection,
    export_threads,
    sqlite_threads,
    store_threads,
)
from chat_core.dataset_lines import LeafWindow, chat_lines, preference_lines
from chat_core.dataset_parallel import export_threads_parallel
from chat_core.dataset_tree import ThreadTree
from chat_core.export_view import ChatExportView, ChatViewOpener, redacted_messages
from events.codec import EventCodec
from events.keys import KeyRing, open_key_store
from events.store.base import EventStore
from events.store.raw import SQLiteRawLog
from events.store.url import sqlite_path
from events.tooling import Selection, open_export
from events.tooling.parallel import ParallelLog
from transports.cli.keys_cli import configured_master_key
from transports.cli.progress import progress_bar

__all__ = ["DATASET_FORMATS", "add_dataset_flags", "run_dataset_export"]

DATASET_FORMATS = ("chat", "preference")


def add_dataset_flags(parser: argparse.ArgumentParser) -> None:
    """Add the flags of the dataset formats."""
    parser.add_argument(
        "--paths",
        choices=("leaves", "heads"),
        default="leaves",
        help="chat: a path to each leaf (default), or to each thread's head only",
    )
    parser.add_argument(
        "--min-rating",
        type=int,
        default=None,
        metavar="N",
        help="chat: only paths whose last assistant message is rated N or more (ups less downs)",
    )


async def run_dataset_export(
    args: argparse.Namespace,
    store: EventStore,
    codec: EventCodec,
    selection: Selection,
    url: str,
) -> int:
    """Write the selected threads' dataset lines to a file (gzip by .gz) or stdout."""
    event_filter = selection.event_filter
    if event_filter is not None and event_filter.types:
        raise ValueError(f"--type does not apply to --format {args.format}")
    threads = ThreadSelection.of(event_filter)
    window = LeafWindow(
        after=selection.after,
        before=selection.before,
        since=None if event_filter is None else event_filter.since,
        until=None if event_filter is None else event_filter.until,
    )
    lines: Lines
    if args.format == "preference":
        if args.min_rating is not None or args.paths != "leaves":
            raise ValueError("--min-rating and --paths apply to --format chat")
        lines = partial(preference_lines, window=window)
    else:
        lines = partial(chat_lines, paths=args.paths, window=window, min_rating=args.min_rating)
    master = configured_master_key(url)
    redacted = await redacted_messages(store)
    sqlite = url.startswith("sqlite:")
    # Threads are read whole whatever the window, so the plan is sized on the whole log.
    plan = ParallelLog.of(sqlite_path(url), codec, Selection(), jobs=args.jobs) if sqlite else None
    with (
        progress_bar("export", total=None) as progress,
        open_export(args.output, sys.stdout.buffer) as sink,
    ):
        if plan is not None:
            opener = ChatViewOpener(
                key_store_url=url, master_secret=master.secret, redacted=frozenset(redacted)
            )
            # Chunk files beside a named output: on its file system, not in a small /tmp.
            scratch = None if args.output == "-" else str(Path(args.output).parent)
            return await export_threads_parallel(
                plan, threads, lines, sink, opener=opener, progress=progress, scratch=scratch
            )
        keys = KeyRing(await open_key_store(url), master)
        view = ChatExportView(keys=keys, redacted=redacted, converter=codec.converter)
        raw = SQLiteRawLog(sqlite_path(url)) if sqlite else None
        try:
            trees: AsyncIterator[tuple[ThreadTree, int]]
            if raw is None:
                trees = store_threads(store, view, threads)
            else:
                trees = sqlite_threads(raw, codec, view, threads)
            return await export_threads(trees, sink, lines, progress=progress)
        finally:
            if raw is not None:
                await raw.close()
            await keys.store.close()
