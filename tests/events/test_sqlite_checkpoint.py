"""WAL checkpoints run beside the writer, never inside a commit, and still reach the file."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from events.codec import EventCodec
from events.store.sqlite import SQLiteEventStore
from events.store.sqlite_checkpoint import CHECKPOINT_SECONDS
from tests.events.factories import make_events


def _events_in_main_file(path: Path, copy: Path) -> int:
    """Count the events the main database file holds by itself, without its WAL."""
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        count: int = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        return count
    finally:
        conn.close()


def _wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_the_writer_leaves_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = await SQLiteEventStore.open(str(path), codec=EventCodec())
    try:
        assert store._write_conn is not None
        autocheckpoint = store._write_conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert autocheckpoint == 0
        for first in range(1, 2001, 100):
            await store.append("s-1", make_events("s-1", first, 100), first - 1)
        # The WAL holds far more than SQLite's 1,000-page threshold by now.
        await asyncio.sleep(CHECKPOINT_SECONDS * 2)
        before = store.checkpointer.checkpoints
        await store.append("s-2", make_events("s-2", 1, 1), 0)  # a commit starts a checkpoint
        for _ in range(100):
            if store.checkpointer.checkpoints > before:
                break
            await asyncio.sleep(0.05)
        assert store.checkpointer.checkpoints > before
        # What the checkpoint copied is in the main file alone, without the WAL beside it.
        assert _events_in_main_file(path, tmp_path / "copy.db") >= 2000
    finally:
        await store.close()


async def test_closing_leaves_every_event_in_the_main_file(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = await SQLiteEventStore.open(str(path), codec=EventCodec())
    await store.append("s-1", make_events("s-1", 1, 50), 0)
    await store.close()
    assert _wal_bytes(path) == 0
    assert _events_in_main_file(path, tmp_path / "copy.db") == 50


def _wal_restarts(path: Path) -> int:
    """Read the WAL header's checkpoint sequence: SQLite adds one each time it starts over."""
    with open(f"{path}-wal", "rb") as wal:
        header = wal.read(16)
    return int.from_bytes(header[12:16], "big") if len(header) == 16 else 0


async def test_under_steady_writes_the_wal_starts_over_instead_of_growing(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = await SQLiteEventStore.open(str(path), codec=EventCodec())
    store.checkpointer.restart_frames = 50
    largest = 0
    try:
        await store.append("a", make_events("a", 1, 10), 0)
        first = _wal_restarts(path)
        version = 10
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() - started < 2.0:
            # Two appenders at once, so a commit is always on its way, as under load.
            await asyncio.gather(
                store.append("a", make_events("a", version + 1, 10), version),
                store.append(f"b{version}", make_events(f"b{version}", 1, 10), 0),
            )
            version += 10
            largest = max(largest, _wal_bytes(path))
        restarts = _wal_restarts(path) - first
    finally:
        await store.close()
    # Without the writer's own checkpoint it never started over here, and reached ~145 MB.
    assert restarts >= 3
    assert largest < 100 * 1024 * 1024
