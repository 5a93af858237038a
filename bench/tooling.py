"""Event tooling: export, verify and replay rates on a million-event log, peak memory at two sizes.

Export and verify run twice, in this process alone (sequential) and with worker processes
(parallel, one per usable core), so the gain shows in one run. Replay runs with check, so it
reads every stream twice: once to fold it, once through the live path it compares with. It
has no rate target; its peak memory has the same within-10% one.

Peak memory is resident memory, each task run in a fresh process: that process's peak RSS,
plus, for a parallel task, the number of workers times the largest worker's peak RSS
(RUSAGE_CHILDREN), an upper bound on the workers' sum at any moment.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

import chat_core.payloads  # noqa: F401  (registers the chat event types in the codec)
from bench.report import Figure, Report
from chat_core.replay import replay_log
from events.codec import EventCodec
from events.store import open_store
from events.store.raw import SQLiteRawLog
from events.store.sqlite_schema import COLUMNS, connect, migrate
from events.tooling import LogVerifier, Selection, export_events, open_export
from events.tooling.parallel import ParallelLog, ParallelVerifier, usable_cores
from events.tooling.parallel_export import export_parallel

__all__ = ["build_log", "main", "measure", "run"]

_INSERT = f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * 14)})"
MESSAGES_PER_THREAD = 10
TARGET_RATE = 200_000
MEMORY_TOLERANCE = 0.10
_NO_STDOUT = io.BytesIO()


def _rows(count: int) -> Iterator[tuple[object, ...]]:
    """Yield rows of chat threads, MESSAGES_PER_THREAD messages each, across 3 tenants."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for position in range(1, count + 1):
        thread, offset = divmod(position - 1, MESSAGES_PER_THREAD)
        tenant = f"t_bench{thread % 3}"
        thread_id = f"th_{thread:012d}"
        if offset == 0:
            event_type = "chat.thread.created"
            payload: dict[str, object] = {
                "thread_id": thread_id,
                "title": f"thread {thread}",
                "metadata": {},
            }
        else:
            event_type = "chat.message.posted"
            payload = {
                "thread_id": thread_id,
                "message_id": f"msg_{position:012d}",
                "seq": offset,
                "role": "user",
                "content": f"message {offset} of a benchmark thread, about sixty bytes long",
                "metadata": {},
            }
        request_id = f"req-{position}"
        yield (
            position,
            uuid.UUID(int=position).bytes,
            f"chat/{tenant}/prod/{thread_id}",
            offset + 1,
            event_type,
            1,
            tenant,
            "prod",
            request_id,
            request_id,
            "u_bench",
            (start + timedelta(milliseconds=position)).isoformat(timespec="microseconds"),
            orjson.dumps(payload),
            None,
        )


def build_log(path: str, count: int) -> None:
    """Write a log of count chat events straight into a SQLite file, schema and all."""
    conn = connect(path)
    try:
        migrate(conn)
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.executemany(_INSERT, _rows(count))
        conn.execute("COMMIT")
    finally:
        conn.close()


async def export_log(path: str, target: Path) -> int:
    """Export the whole log to a JSON Lines file and return the event count."""
    codec = EventCodec()
    store = await open_store(f"sqlite:///{path}", codec=codec)
    try:
        with open_export(target, stdout=_NO_STDOUT) as sink:
            return await export_events(store, codec, Selection(), sink)
    finally:
        await store.close()


async def verify_log(path: str, _target: Path) -> int:
    """Verify the whole log from its raw rows and return the event count."""
    raw = SQLiteRawLog(path)
    verifier = LogVerifier(raw, EventCodec())
    try:
        faults = [fault async for fault in verifier.faults()]
    finally:
        await raw.close()
    assert not faults, faults[:3]
    return verifier.checked


async def export_log_parallel(path: str, target: Path) -> int:
    """Export the whole log with worker processes and return the event count."""
    log = ParallelLog(path=path, jobs=usable_cores())
    with target.open("wb") as sink:
        return await export_parallel(log, Selection(), sink)


async def verify_log_parallel(path: str, _target: Path) -> int:
    """Verify the whole log with worker processes and return the event count."""
    verifier = ParallelVerifier(ParallelLog(path=path, jobs=usable_cores()))
    faults = [fault async for fault in verifier.faults()]
    assert not faults, faults[:3]
    return verifier.checked


async def replay_check_log(path: str, _target: Path) -> int:
    """Replay the whole log, comparing it with the live state, and return the event count."""
    store = await open_store(f"sqlite:///{path}", codec=EventCodec())
    differences: list[str] = []
    try:
        result = await replay_log(store, check=True, on_difference=differences.append)
    finally:
        await store.close()
    assert not differences, differences[:3]
    return result.events


Task = Callable[[str, Path], Coroutine[Any, Any, int]]
# Each task with its rate target in events/s, None for none, and its worker count.
TASKS: dict[str, tuple[Task, int | None, int]] = {
    "export sequential": (export_log, TARGET_RATE, 0),
    "export parallel": (export_log_parallel, TARGET_RATE, usable_cores()),
    "verify sequential": (verify_log, TARGET_RATE, 0),
    "verify parallel": (verify_log_parallel, TARGET_RATE, usable_cores()),
    "replay": (replay_check_log, None, 0),
}


def _rate(task: Task, path: str, target: Path) -> float:
    started = time.perf_counter()
    count = asyncio.run(task(path, target))
    return count / (time.perf_counter() - started)


def _peak(name: str, path: str, target: Path) -> tuple[float, float]:
    """Return the peak resident bytes of the task run in a fresh process, workers included,
    and the part of it that is the process's own."""
    command = [sys.executable, "-m", "bench.tooling", "--peak-of", name, path, str(target)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    total, own = out.split()
    return float(total), float(own)


def _peak_here(name: str, path: str, target: Path) -> None:
    task, _, workers = TASKS[name]
    asyncio.run(task(path, target))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    largest_worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print((own + workers * largest_worker) * 1024, own * 1024)


def _verdict(met: bool) -> str:
    return "target met" if met else "TARGET MISSED"


def run(report: Report | None = None, *, quick: bool = False, only: str = "") -> Any:
    """Measure alone (run(quick=...)), or for `python -m bench` (run(report), awaited)."""
    if report is not None:
        # bench's runner awaits run(report) under asyncio.run; the measures run their own loops.
        return asyncio.to_thread(measure, report)
    return measure(Report(quick=quick), only=only)


def measure(report: Report, *, only: str = "") -> Report:
    """Build the logs, measure export, verify and replay, print every figure with its target."""
    quick = report.quick
    large, small = (200_000, 20_000) if quick else (1_000_000, 100_000)
    print(
        f"  {usable_cores()} usable cores; peak memory: the task's own peak RSS plus, for a "
        "parallel one, workers x the largest worker's (RUSAGE_CHILDREN), each in a fresh process"
    )
    with tempfile.TemporaryDirectory(prefix="bench-tooling-") as workdir:
        paths = {size: str(Path(workdir) / f"log-{size}.db") for size in (small, large)}
        for size, path in paths.items():
            started = time.perf_counter()
            build_log(path, size)
            print(f"  built a log of {size:,} events in {time.perf_counter() - started:.1f} s")
        target = Path(workdir) / "export.jsonl"
        for name, (task, target_rate, _) in TASKS.items():
            if only and not name.startswith(tuple(only.split(","))):
                continue
            rates = {size: _rate(task, path, target) for size, path in paths.items()}
            for size in (small, large):
                report.add(
                    Figure("tooling", f"{name} rate at {size:,} events", rates[size], "events/s")
                )
            rate = rates[large]
            if target_rate is None:
                print("    no rate target")
            else:
                print(f"    {_verdict(rate >= target_rate)} (>= {target_rate:,} events/s)")
            peaks = {size: _peak(name, path, target) for size, path in paths.items()}
            for size in (small, large):
                figure = f"{name} peak RSS at {size:,} events"
                report.add(Figure("tooling", figure, peaks[size][0] / 1e6, "MB"))
            (low, low_own), (high, high_own) = peaks[small], peaks[large]
            growth = high / low - 1
            print(
                f"    peak memory {growth:+.1%} from {small:,} to {large:,} events "
                f"({low / 1e6:,.1f} MB to {high / 1e6:,.1f} MB; the task's own process "
                f"{low_own / 1e6:,.1f} MB to {high_own / 1e6:,.1f} MB): "
                f"{_verdict(abs(growth) <= MEMORY_TOLERANCE)} (within {MEMORY_TOLERANCE:.0%})"
            )
    return report


def main() -> None:
    """Run the tooling benchmark alone: python -m bench.tooling [--quick] [--only export,...]."""
    parser = argparse.ArgumentParser(prog="python -m bench.tooling")
    parser.add_argument("--quick", action="store_true", help="200k and 20k events")
    parser.add_argument("--only", default="", help="comma-separated task name prefixes")
    parser.add_argument(
        "--peak-of", nargs=3, metavar=("TASK", "LOG", "TARGET"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.peak_of:
        name, path, target = args.peak_of
        _peak_here(name, path, Path(target))
        return
    run(quick=args.quick, only=args.only).print_table()


if __name__ == "__main__":
    main()
