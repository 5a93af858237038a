"""Write a SQLite log's dataset lines on every core: each worker folds whole threads.

The thread ranges of the selection are cut at stream names about a chunk of positions
apart (ParallelLog.stream_bounds), so every thread lies in one piece; a worker folds its
piece's threads as the sequential export does, into a chunk file, and the parent appends
the files in order. The bytes are the sequential export's.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

from attrs import frozen

from chat_core.dataset_export import Lines, ThreadSelection, export_threads, sqlite_threads
from chat_core.export_view import ChatExportView, ChatViewOpener
from events.codec import EventCodec
from events.store.raw import SQLiteRawLog
from events.tooling.export import RowPayloadView, Sink
from events.tooling.parallel import ParallelLog
from events.tooling.parallel_export import Call, append_chunks
from events.tooling.selection import Progress

__all__ = ["ThreadChunk", "export_threads_parallel", "thread_chunks"]


@frozen(kw_only=True)
class ThreadChunk:
    """One worker's piece: the selected threads whose names lie from first up to end."""

    selection: ThreadSelection
    first: str
    end: str
    lines: Lines
    path: str

    def run(
        self,
        raw: SQLiteRawLog,
        codec: EventCodec,
        view: RowPayloadView | None,
        loop: asyncio.AbstractEventLoop,
    ) -> tuple[str, int, tuple[int, int]]:
        """Write the piece's lines to a new file; return it, its length, lines and events."""
        if not isinstance(view, ChatExportView):
            raise TypeError("a dataset chunk needs the chat export view")
        events = 0

        def count(read: int) -> None:
            nonlocal events
            events += read

        threads = sqlite_threads(raw, codec, view, self.selection, ranges=[(self.first, self.end)])
        # "x": the parent names a new file in a directory of its own; it never overwrites one.
        with open(self.path, "xb") as file:
            written = loop.run_until_complete(
                export_threads(threads, file, self.lines, progress=count)
            )
            length = file.tell()
        return self.path, length, (written, events)


def thread_chunks(log: ParallelLog, selection: ThreadSelection) -> list[tuple[str, str]]:
    """Return the selection's name ranges cut at the log's stream bounds, in name order."""
    cuts = sorted({end for _, end in log.stream_bounds() if end is not None})
    pieces: list[tuple[str, str]] = []
    for first, end in selection.ranges():
        inside = [name for name in cuts if first < name < end]
        pieces += zip([first, *inside], [*inside, end], strict=True)
    return pieces


async def export_threads_parallel(
    log: ParallelLog,
    selection: ThreadSelection,
    lines: Lines,
    out: Sink,
    *,
    opener: ChatViewOpener,
    progress: Progress | None = None,
    scratch: str | None = None,
) -> int:
    """Write what export_threads writes for the selection, a piece per worker call."""
    pieces = thread_chunks(log, selection)

    def calls(directory: str) -> Iterator[Call]:
        for number, (first, end) in enumerate(pieces):
            path = os.path.join(directory, str(number))
            chunk = ThreadChunk(selection=selection, first=first, end=end, lines=lines, path=path)
            yield "run_task", (chunk,)

    written = 0
    answer: Any
    async for answer in append_chunks(log, log.setup(opener), calls, out, scratch=scratch):
        chunk_lines, events = answer
        written += chunk_lines
        if progress is not None:
            progress(events)
    return written
