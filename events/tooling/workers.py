"""What a worker process of a parallel export or verify does with one chunk of a SQLite log.

Each worker opens the file read-only once (see init_worker) and turns position ranges
into the bytes the sequential export writes for them, written to a file of their own the
parent names, or into the faults the sequential verify finds in them, so the parent only
has to put the chunks back in order.

Run as `python -m events.tooling.workers`, it reads from standard input a WorkerSetup and
then calls, each a length-prefixed pickle, and writes each answer to standard output the
same way: ("ok", result) or ("error", exception). The parent is its only peer.
"""

from __future__ import annotations

import asyncio
import importlib
import pickle
import signal
import struct
import sys
from collections.abc import Callable
from typing import IO, Any, Protocol

from attrs import frozen

from events.codec import EventCodec
from events.store.base import EventFilter
from events.store.raw import SQLiteRawLog
from events.tooling.export import RowPayloadView, export_rows
from events.tooling.selection import Selection
from events.tooling.verify import Fault, LogVerifier, stream_faults

__all__ = [
    "ViewOpener",
    "WorkerSetup",
    "WorkerTask",
    "export_chunk",
    "init_worker",
    "run_task",
    "serve",
    "verify_rows",
    "verify_streams",
]

LENGTH = struct.Struct(">Q")


class ViewOpener(Protocol):
    """A picklable recipe for the export view a worker shows payloads through."""

    async def open(self, codec: EventCodec, /) -> RowPayloadView:
        """Build the view in the worker, with its own connections and caches."""
        ...


class WorkerTask(Protocol):
    """A picklable piece of work of a layer above (a dataset chunk, say) for a worker to run."""

    def run(
        self,
        raw: SQLiteRawLog,
        codec: EventCodec,
        view: RowPayloadView | None,
        loop: asyncio.AbstractEventLoop,
    ) -> Any:
        """Do the work on the worker's log, codec, view and event loop; return its answer."""
        ...


@frozen(kw_only=True)
class WorkerSetup:
    """What every worker is started with: the log, how to decode it, how to show it."""

    path: str
    # The modules that register the codec's payload types, imported before it is built,
    # from where the parent imports them.
    modules: tuple[str, ...]
    import_path: tuple[str, ...] = ()
    view: ViewOpener | None = None


class _Worker:
    def __init__(self, setup: WorkerSetup) -> None:
        sys.path[:0] = [entry for entry in setup.import_path if entry not in sys.path]
        for module in setup.modules:
            importlib.import_module(module)
        self.codec = EventCodec()
        self.raw = SQLiteRawLog(setup.path, inline=True)
        self.loop = asyncio.new_event_loop()
        self.view = (
            None
            if setup.view is None
            else self.loop.run_until_complete(setup.view.open(self.codec))
        )
        self.verifier = LogVerifier(self.raw, self.codec)


_worker: _Worker | None = None


def init_worker(setup: WorkerSetup) -> None:
    """Open the log for this worker process; leave Ctrl-C to the parent, which stops the pool."""
    global _worker  # one per process, built once by the pool's initializer
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = _Worker(setup)


def _current() -> _Worker:
    if _worker is None:
        raise RuntimeError("init_worker was not run in this process")
    return _worker


def export_chunk(
    after: int,
    before: int,
    event_filter: EventFilter | None,
    path: str,
) -> tuple[int, str, int]:
    """Write the export lines of the events strictly between two positions to a new file.

    Return how many events there were, the file's path and its length in bytes.
    """
    worker = _current()
    selection = Selection(after=after, before=before, event_filter=event_filter)
    # "x": the parent names a new file in a directory of its own; it never overwrites one.
    with open(path, "xb") as file:
        count = worker.loop.run_until_complete(
            export_rows(worker.raw, worker.codec, selection, file, None, worker.view)
        )
        length = file.tell()
    return count, path, length


def verify_rows(after: int, before: int) -> tuple[int, list[Fault]]:
    """Return how many rows lie strictly between two positions and their row faults."""
    worker = _current()
    verifier = worker.verifier
    verifier.checked = 0

    async def collect() -> list[Fault]:
        return [fault async for fault in verifier.row_faults(after=after, before=before)]

    faults = worker.loop.run_until_complete(collect())
    return verifier.checked, faults


def verify_streams(first: str | None, end: str | None) -> list[Fault]:
    """Return the version faults of the streams from first up to (not including) end."""
    worker = _current()
    entries = worker.raw.stream_entries(first=first, end=end)
    assert entries is not None

    async def collect() -> list[Fault]:
        return [fault async for fault in stream_faults(entries)]

    return worker.loop.run_until_complete(collect())


def run_task(task: WorkerTask) -> Any:
    """Run a task of a layer above on this worker's log, codec, view and loop."""
    worker = _current()
    return task.run(worker.raw, worker.codec, worker.view, worker.loop)


CALLS: dict[str, Callable[..., Any]] = {
    "export_chunk": export_chunk,
    "run_task": run_task,
    "verify_rows": verify_rows,
    "verify_streams": verify_streams,
}


def _read(source: IO[bytes]) -> Any:
    head = source.read(LENGTH.size)
    if len(head) < LENGTH.size:
        return None
    # The parent that started this process is the only writer of its standard input.
    return pickle.loads(source.read(LENGTH.unpack(head)[0]))  # noqa: S301


def _write(sink: IO[bytes], answer: tuple[str, Any]) -> None:
    try:
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an error that does not pickle still reaches the parent, as text
        data = pickle.dumps(("error", RuntimeError(repr(answer[1]))))
    sink.write(LENGTH.pack(len(data)))
    sink.write(data)
    sink.flush()


def serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """Answer the parent's calls until it closes standard input."""
    setup = _read(source)
    init_worker(setup)
    while (call := _read(source)) is not None:
        name, args = call
        try:
            answer: tuple[str, Any] = ("ok", CALLS[name](*args))
        except Exception as exc:  # any failure goes back to the parent, which raises it
            answer = ("error", exc)
        _write(sink, answer)


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
