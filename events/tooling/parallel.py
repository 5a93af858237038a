"""Read a SQLite log on every core: worker processes take chunks, the parent orders; verify.

The selected positions are cut into chunks of CHUNK positions; `jobs` worker processes
(`python -m events.tooling.workers`: started afresh, never forked from a parent that
runs an event loop and threads, and without re-running the parent's main script) turn each chunk
into bytes or faults, and the parent takes the answers strictly in chunk order, with at
most `window` chunks in flight, so the output is the sequential one and memory stays flat.

An export writes its chunks through files of their own (parallel_export).

Errors:
    WorkerFailed   a worker process died, or could not start, before its chunk was done
"""

from __future__ import annotations

import asyncio
import os
import pickle
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, TypeVar

from attrs import frozen

from events.codec import EventCodec, default_registry
from events.store.raw import SQLiteRawLog
from events.tooling.selection import Progress, Selection
from events.tooling.verify import Fault
from events.tooling.workers import LENGTH, ViewOpener, WorkerSetup

__all__ = [
    "CHUNK",
    "MIN_PARALLEL",
    "ParallelLog",
    "ParallelVerifier",
    "WorkerFailed",
    "in_order",
    "usable_cores",
]

T = TypeVar("T")

# Positions per chunk: ~4.5 MB of export lines, so the window of chunk files stays small
# (jobs + 2 on disk at most). 5,000 to 50,000 measured the same; workers stream to the file.
CHUNK = 10_000
# Below this many positions, starting the workers costs more than they save.
MIN_PARALLEL = 100_000
# How long a worker whose input was closed may take to exit before it is killed.
STOP_SECONDS = 10.0


class WorkerFailed(Exception):
    """A worker process died, or could not start, before its chunk was done."""


def usable_cores() -> int:
    """Return how many cores this process may run on."""
    return len(os.sched_getaffinity(0))


@frozen(kw_only=True)
class ParallelLog:
    """A SQLite log to be read by `jobs` worker processes, CHUNK positions at a time."""

    path: str
    jobs: int
    chunk: int = CHUNK

    @classmethod
    def of(
        cls,
        path: str,
        codec: EventCodec,
        selection: Selection,
        *,
        jobs: int,
        chunk: int = CHUNK,
        min_positions: int = MIN_PARALLEL,
    ) -> ParallelLog | None:
        """Return the plan for a selection worth splitting, or None to go sequentially."""
        # A worker builds its own codec on the default registry; any other one stays here.
        if jobs < 2 or codec.registry is not default_registry:
            return None
        raw = SQLiteRawLog(path)
        try:
            head = raw.head()
        finally:
            raw.close_now()
        last = head if selection.before is None else min(head, selection.before - 1)
        if last - selection.after < min_positions:
            return None
        return cls(path=path, jobs=jobs, chunk=chunk)

    def setup(self, view: ViewOpener | None = None) -> WorkerSetup:
        """Return what each worker starts from: the modules the codec's types come from."""
        modules = sorted({cls.__module__ for cls in default_registry.types()})
        return WorkerSetup(
            path=self.path, modules=tuple(modules), import_path=tuple(sys.path), view=view
        )

    def ranges(self, after: int, before: int | None) -> Iterator[tuple[int, int]]:
        """Yield (after, before) chunks up to before, or to the head as it grows."""
        raw = SQLiteRawLog(self.path)
        try:
            while True:
                head = raw.head()
                last = head if before is None else min(head, before - 1)
                if last <= after:
                    return
                for lower in range(after, last, self.chunk):
                    yield lower, min(lower + self.chunk, last) + 1
                after = last
        finally:
            raw.close_now()

    def stream_bounds(self) -> list[tuple[str | None, str | None]]:
        """Return (first, end) stream ranges of about a chunk each, whole streams in each."""
        raw = SQLiteRawLog(self.path)
        try:
            head = raw.head()
            found = {raw.stream_at(position) for position in range(self.chunk, head, self.chunk)}
        finally:
            raw.close_now()
        # Only text names split the walk: it starts after "" and runs in index order.
        names = sorted(name for name in found if isinstance(name, str) and name)
        firsts: list[str | None] = [None, *names]
        ends: list[str | None] = [*names, None]
        return list(zip(firsts, ends, strict=True))


class _Worker:
    """One worker process, asked one call at a time over its standard input and output."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        self._stdin, self._stdout = process.stdin, process.stdout

    @classmethod
    async def start(cls, setup: WorkerSetup) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "events.tooling.workers",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        worker = cls(process)
        worker._send(setup)
        return worker

    def _send(self, message: object) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._stdin.write(LENGTH.pack(len(data)) + data)

    async def call(self, name: str, args: tuple[Any, ...]) -> Any:
        """Return what the worker's function gives for args; raise what it raised."""
        self._send((name, args))
        try:
            await self._stdin.drain()
            head = await self._stdout.readexactly(LENGTH.size)
            data = await self._stdout.readexactly(LENGTH.unpack(head)[0])
        except (asyncio.IncompleteReadError, ConnectionError):
            code = await self._process.wait()
            raise WorkerFailed(
                f"worker process {self._process.pid} stopped (exit status {code}) before its "
                "chunk was done; nothing after the last complete chunk was written"
            ) from None
        # Written by the worker this process started, over its own pipe.
        status, answer = pickle.loads(data)  # noqa: S301
        if status != "ok":
            raise answer
        return answer

    async def stop(self) -> None:
        """Close the worker's input, so it exits, and wait for it; kill it if it lingers."""
        if self._process.returncode is None:
            self._stdin.close()
            try:
                await asyncio.wait_for(self._process.wait(), STOP_SECONDS)
            except TimeoutError:
                self._process.kill()
        await self._reap()

    async def kill(self) -> None:
        """Stop the worker at once."""
        if self._process.returncode is None:
            self._process.kill()
        await self._reap()

    async def _reap(self) -> None:
        await self._process.wait()
        # Read to the end, so the pipes and their transport close with the loop still open.
        self._stdin.close()
        await self._stdout.read()


async def in_order(
    log: ParallelLog, setup: WorkerSetup, calls: Iterator[tuple[str, tuple[Any, ...]]]
) -> AsyncGenerator[Any, None]:
    """Yield each call's answer in the order of the calls, a few of them running at once."""
    room = asyncio.Semaphore(log.jobs + 1)
    answers: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    workers: list[_Worker] = []
    feed = iter(calls)

    async def work(worker: _Worker) -> None:
        # Each worker takes the next call as soon as it is free; the answers queue keeps order.
        while True:
            await room.acquire()
            answer = loop.create_future()
            try:
                call = next(feed, None)
            except Exception as exc:  # the plan failed: its error is the next answer
                answer.set_exception(exc)
                call = None
            if call is None:
                if answer.done():
                    answers.put_nowait(answer)
                room.release()
                return
            answers.put_nowait(answer)
            try:
                answer.set_result(await worker.call(*call))
            except Exception as exc:
                answer.set_exception(exc)
                return

    tasks: list[asyncio.Task[None]] = []
    try:
        for _ in range(log.jobs):
            workers.append(await _Worker.start(setup))
        tasks = [asyncio.create_task(work(worker)) for worker in workers]
        finished: asyncio.Future[Any] = asyncio.gather(*tasks, return_exceptions=True)
        while True:
            getting: asyncio.Future[Any] = asyncio.ensure_future(answers.get())
            await asyncio.wait([getting, finished], return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                getting.cancel()
                if answers.empty():
                    break
                continue
            answer = await getting.result()
            room.release()
            yield answer
        await finished
        await asyncio.gather(*(worker.stop() for worker in workers))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(worker.kill() for worker in workers))


class ParallelVerifier:
    """Find the faults LogVerifier finds, in the same order, with worker processes."""

    def __init__(self, log: ParallelLog) -> None:
        self._log = log
        self.checked = 0

    async def faults(self, *, progress: Progress | None = None) -> AsyncIterator[Fault]:
        """Yield each fault, row faults in position order then version faults by stream."""
        log = self._log
        rows = (("verify_rows", bounds) for bounds in log.ranges(0, None))
        streams = (("verify_streams", bounds) for bounds in log.stream_bounds())
        calls: Iterator[tuple[str, tuple[Any, ...]]] = _chain(rows, streams)
        async for answer in in_order(log, log.setup(), calls):
            if isinstance(answer, tuple):
                checked, faults = answer
                self.checked += checked
                if progress is not None:
                    progress(checked)
            else:
                faults = answer
            for fault in faults:
                yield fault


def _chain(*parts: Iterator[T]) -> Iterator[T]:
    for part in parts:
        yield from part
