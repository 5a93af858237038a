"""Dataset export: `export --format chat` of a sealed, branched log, beside `--format events`.

Each thread is 10 events: its creation, a question and answer, a second question answered
by a streamed generation (start, two chunks, completion), a regenerated answer (a sibling)
and an edited question (a branch): three conversation paths. Every message and chunk is
sealed under its author's key (a user and the tenant's agent), so both exports open every
one. The reference is the JSON Lines events export of the same log, with the same view, in
the same run, each in one process and with worker processes (one per usable core). Peak
memory is each chat export's peak RSS in a fresh process, workers included (jobs times
the largest worker's peak), at 100k and at 1M events.

python -m bench.datasets [--quick]
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
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import chat_core.payloads  # noqa: F401  (registers the chat event types in the codec)
from chat_core.dataset_export import ThreadSelection, export_threads, sqlite_threads
from chat_core.dataset_lines import chat_lines
from chat_core.dataset_parallel import export_threads_parallel
from chat_core.export_view import ChatExportView, ChatViewOpener, redacted_messages
from chat_core.payloads import (
    LlmFields,
    MessageChunk,
    MessageCompleted,
    MessagePosted,
    ThreadCreated,
)
from chat_core.sealing import seal_chunk, seal_message
from events.codec import EventCodec
from events.crypto import MasterKey
from events.envelope import EventPayload
from events.keys import KeyRing
from events.store import open_store
from events.store.raw import SQLiteRawLog
from events.store.sqlite_keys import SQLiteKeyStore
from events.store.sqlite_schema import COLUMNS, connect, migrate
from events.tooling import Selection, export_events, open_export
from events.tooling.parallel import ParallelLog, usable_cores
from events.tooling.parallel_export import export_parallel

__all__ = ["build_dataset_log", "main", "measure", "run"]

EVENTS_PER_THREAD = 10
TARGET_RATE = 100_000
MEMORY_TOLERANCE = 0.10
SUBJECTS = 100
MASTER = MasterKey(b"b" * 32)
_INSERT = f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * 14)})"
_TEXT = "a benchmark message of a dataset thread, about sixty bytes."
_NO_STDOUT = io.BytesIO()


class _Sealer:
    """Seal the words of a thread's messages and chunks under their authors' keys."""

    def __init__(self, keys: KeyRing, writing: dict[tuple[str, str], Any]) -> None:
        self.keys = keys
        self.writing = writing

    def message(self, tenant: str, author: str, message_id: str) -> str:
        key = self.writing[(tenant, author)]
        return seal_message(
            self.keys,
            key,
            tenant=tenant,
            author=author,
            message_id=message_id,
            content=_TEXT,
            metadata={},
        )

    def chunk(self, tenant: str, author: str, message_id: str, index: int) -> str:
        key = self.writing[(tenant, author)]
        return seal_chunk(
            self.keys,
            key,
            tenant=tenant,
            author=author,
            message_id=message_id,
            index=index,
            text=_TEXT[:30],
        )


def _thread_events(sealer: _Sealer, thread: int) -> Iterator[tuple[str, str, str, EventPayload]]:
    """Yield (tenant, stream, actor, payload) of one thread's ten events, in version order."""
    tenant = f"t_bench{thread % 3}"
    user, agent = f"u_bench{thread % SUBJECTS}", "u_agent"
    thread_id = f"th_{thread:012d}"
    stream = f"chat/{tenant}/prod/{thread_id}"
    ids = [f"msg_{seq:x}-{thread:012d}" for seq in range(7)]
    gpt = LlmFields(model="gpt-x", temperature=0.7)

    def posted(seq: int, author: str, role: str, **fields: Any) -> tuple[str, str, str, Any]:
        sealed = sealer.message(tenant, author, ids[seq])
        payload = MessagePosted(
            thread_id=thread_id, message_id=ids[seq], seq=seq, role=role, sealed=sealed, **fields
        )
        return tenant, stream, author, payload

    yield tenant, stream, user, ThreadCreated(thread_id=thread_id)
    yield posted(1, user, "user")
    yield posted(2, agent, "assistant", llm=gpt)
    yield posted(3, user, "user")
    yield posted(4, agent, "assistant", llm=LlmFields(status="in_progress", model="gpt-x"))
    for index in (0, 1):
        sealed = sealer.chunk(tenant, agent, ids[4], index)
        chunk = MessageChunk(
            thread_id=thread_id, message_id=ids[4], index=index, length=30 * index, sealed=sealed
        )
        yield tenant, stream, agent, chunk
    yield tenant, stream, agent, MessageCompleted(thread_id=thread_id, message_id=ids[4])
    yield posted(5, agent, "assistant", parent_id=ids[3], llm=gpt)
    yield posted(6, user, "user", parent_id=ids[2])


def _rows(sealer: _Sealer, count: int) -> Iterator[tuple[object, ...]]:
    codec = EventCodec()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    position = 0
    for thread in range(count // EVENTS_PER_THREAD):
        events = _thread_events(sealer, thread)
        for version, (tenant, stream, actor, payload) in enumerate(events, start=1):
            position += 1
            moment = start + timedelta(milliseconds=position)
            yield (
                position,
                uuid.UUID(int=position).bytes,
                stream,
                version,
                payload.event_type,
                payload.schema_version,
                tenant,
                "prod",
                f"req-{position}",
                f"req-{position}",
                actor,
                moment.isoformat(timespec="microseconds"),
                codec.payload_to_json(payload),
                None,
            )


async def build_dataset_log(path: str, count: int) -> None:
    """Write count events (threads of EVENTS_PER_THREAD) straight into a SQLite file."""
    conn = connect(path)
    migrate(conn)
    conn.close()
    key_store = await SQLiteKeyStore.open(path, clock=lambda: datetime.now(UTC))
    keys = KeyRing(key_store, MASTER)
    writing = {}
    for tenant in ("t_bench0", "t_bench1", "t_bench2"):
        for author in (*(f"u_bench{s}" for s in range(SUBJECTS)), "u_agent"):
            writing[(tenant, author)] = await keys.writing_key(tenant, author)
    await key_store.close()
    rows = _rows(_Sealer(keys, writing), count)
    conn = connect(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.executemany(_INSERT, rows)
        conn.execute("COMMIT")
        # As a log at rest is: its pages in the main file, not in the WAL.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


async def _view(path: str, codec: EventCodec) -> tuple[ChatExportView, Any, Any]:
    store = await open_store(f"sqlite:///{path}", codec=codec)
    key_store = await SQLiteKeyStore.open(path, clock=lambda: datetime.now(UTC))
    view = ChatExportView(
        keys=KeyRing(key_store, MASTER),
        redacted=await redacted_messages(store),
        converter=codec.converter,
    )
    return view, store, key_store


async def export_chat(path: str, target: Path) -> int:
    """Export the log as chat lines; return the events read."""
    codec = EventCodec()
    view, store, key_store = await _view(path, codec)
    raw = SQLiteRawLog(path)
    read = 0

    def counted(events: int) -> None:
        nonlocal read
        read += events

    try:
        with open_export(target, stdout=_NO_STDOUT) as sink:
            threads = sqlite_threads(raw, codec, view, ThreadSelection())
            await export_threads(threads, sink, chat_lines, progress=counted)
    finally:
        await raw.close()
        await store.close()
        await key_store.close()
    return read


async def export_events_view(path: str, target: Path) -> int:
    """Export the log as DatasetEvent lines, messages opened; return the events written."""
    codec = EventCodec()
    view, store, key_store = await _view(path, codec)
    try:
        with open_export(target, stdout=_NO_STDOUT) as sink:
            return await export_events(store, codec, Selection(), sink, view=view)
    finally:
        await store.close()
        await key_store.close()


def _opener(path: str, redacted: set[str]) -> ChatViewOpener:
    return ChatViewOpener(
        key_store_url=f"sqlite:///{path}", master_secret=MASTER.secret, redacted=frozenset(redacted)
    )


async def export_chat_parallel(path: str, target: Path) -> int:
    """Export the log as chat lines with worker processes; return the events read."""
    codec = EventCodec()
    store = await open_store(f"sqlite:///{path}", codec=codec)
    read = 0

    def counted(events: int) -> None:
        nonlocal read
        read += events

    try:
        opener = _opener(path, await redacted_messages(store))
        log = ParallelLog(path=path, jobs=usable_cores())
        with open_export(target, stdout=_NO_STDOUT) as sink:
            await export_threads_parallel(
                log, ThreadSelection(), chat_lines, sink, opener=opener, progress=counted
            )
    finally:
        await store.close()
    return read


async def export_events_parallel(path: str, target: Path) -> int:
    """Export the log as DatasetEvent lines with worker processes, messages opened."""
    codec = EventCodec()
    store = await open_store(f"sqlite:///{path}", codec=codec)
    try:
        opener = _opener(path, await redacted_messages(store))
        log = ParallelLog(path=path, jobs=usable_cores())
        with open_export(target, stdout=_NO_STDOUT) as sink:
            return await export_parallel(log, Selection(), sink, view=opener)
    finally:
        await store.close()


TASKS = {
    "chat": export_chat,
    "events": export_events_view,
    "chat parallel": export_chat_parallel,
    "events parallel": export_events_parallel,
}


def _rate(name: str, path: str, target: Path) -> float:
    started = time.perf_counter()
    count = asyncio.run(TASKS[name](path, target))
    return count / (time.perf_counter() - started)


def _peak(name: str, path: str, target: Path) -> float:
    command = [sys.executable, "-m", "bench.datasets", "--peak-of", name, path, str(target)]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def measure(*, quick: bool = False) -> None:
    """Build the logs, measure both exports' rates and the chat export's peak memory."""
    large, small = (200_000, 20_000) if quick else (1_000_000, 100_000)
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as workdir:
        paths = {size: str(Path(workdir) / f"log-{size}.db") for size in (small, large)}
        for size, path in paths.items():
            started = time.perf_counter()
            asyncio.run(build_dataset_log(path, size))
            print(
                f"  built a sealed log of {size:,} events in {time.perf_counter() - started:.1f} s"
            )
        target = Path(workdir) / "out.jsonl"
        rates = {}
        for name in TASKS:
            rates[name] = _rate(name, paths[large], target)
            if name == "chat":
                lines = sum(1 for _ in target.open("rb"))
        jobs = usable_cores()
        for mode, suffix in (("one process", ""), (f"{jobs} worker processes", " parallel")):
            chat, reference = rates["chat" + suffix], rates["events" + suffix]
            print(
                f"  export --format chat, {large:,} events ({lines:,} lines), {mode}: "
                f"{chat:,.0f} events/s; --format events of the same log: {reference:,.0f} "
                f"events/s ({chat / reference:.2f}x)"
            )
        best = max(rates["chat"], rates["chat parallel"])
        verdict = "target met" if best >= TARGET_RATE else "TARGET MISSED"
        print(f"    {verdict} (>= {TARGET_RATE:,} events/s)")
        for name in ("chat", "chat parallel"):
            low, high = (_peak(name, paths[size], target) for size in (small, large))
            growth = high / low - 1
            verdict = "target met" if abs(growth) <= MEMORY_TOLERANCE else "TARGET MISSED"
            print(
                f"  export --format {name} peak RSS {low / 1e6:,.1f} MB at {small:,} events, "
                f"{high / 1e6:,.1f} MB at {large:,} ({growth:+.1%}): {verdict} "
                f"(within {MEMORY_TOLERANCE:.0%})"
            )


def run(*, quick: bool = False) -> None:
    """Run the dataset benchmark from `python -m bench`."""
    measure(quick=quick)


def main() -> None:
    """Run the dataset benchmark alone: python -m bench.datasets [--quick]."""
    parser = argparse.ArgumentParser(prog="python -m bench.datasets")
    parser.add_argument("--quick", action="store_true", help="200k and 20k events")
    parser.add_argument("--peak-of", nargs=3, metavar=("TASK", "LOG", "TARGET"))
    args = parser.parse_args()
    if args.peak_of:
        name, path, target = args.peak_of
        asyncio.run(TASKS[name](path, Path(target)))
        # Workers included: jobs x the largest worker's peak, an upper bound on their sum.
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        workers = usable_cores() if name.endswith("parallel") else 0
        print((own + workers * resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * 1024)
        return
    measure(quick=args.quick)


if __name__ == "__main__":
    main()
