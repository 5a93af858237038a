"""WAL checkpoints in a thread of their own, so that no commit waits for one.

SQLite's automatic checkpoint runs inside the commit that pushes the WAL past 1,000 pages:
that commit copies the WAL into the database file and fsyncs it before its callers hear
back, a stall of tens of milliseconds once the indexes are large (POST p99 went from 11 ms
to 87-137 ms with a million events stored). The writer connection turns it off and this
checkpointer runs a PASSIVE checkpoint from its own connection at most every `interval`
seconds while commits keep coming. PASSIVE never blocks the writer or the readers: it
copies what no reader still needs and leaves the rest for next time. Durability does not
depend on it; every commit is already durable in the WAL (synchronous=FULL).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor

from events.store.sqlite_schema import connect

__all__ = ["CHECKPOINT_SECONDS", "Checkpointer", "hand_over_checkpoints"]

CHECKPOINT_SECONDS = 0.2

log = logging.getLogger("events.store.sqlite")


def hand_over_checkpoints(conn: sqlite3.Connection) -> None:
    """Stop a writer connection from checkpointing inside its own commits."""
    conn.execute("PRAGMA wal_autocheckpoint = 0")


class Checkpointer:
    """Run a PASSIVE checkpoint after commits, one at a time, at most every interval seconds."""

    def __init__(self, path: str, *, interval: float = CHECKPOINT_SECONDS) -> None:
        self._path = path
        self._interval = interval
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        self._conn: sqlite3.Connection | None = None
        self._running: Future[None] | None = None
        self._last = 0.0
        self.checkpoints = 0

    def committed(self) -> None:
        """Note a commit; start a checkpoint when none runs and the last is old enough."""
        now = time.monotonic()
        if now - self._last < self._interval:
            return
        if self._running is not None and not self._running.done():
            return
        self._last = now
        self._running = self._pool.submit(self._checkpoint)

    def close(self) -> None:
        """Wait for a running checkpoint and close the connection (SQLite checkpoints on close)."""
        self._pool.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = connect(self._path)
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error:
            # The WAL keeps every commit; a failed copy is retried on the next commit.
            log.warning(
                "a WAL checkpoint of %s failed; it will be retried", self._path, exc_info=True
            )
