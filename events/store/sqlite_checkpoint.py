"""WAL checkpoints in a thread of their own, so that no commit waits for one.

SQLite's automatic checkpoint runs inside the commit that pushes the WAL past 1,000 pages:
that commit copies the WAL into the database file and fsyncs it before its callers hear
back, a stall of tens of milliseconds once the indexes are large (POST p99 went from 11 ms
to 87-137 ms with a million events stored). The writer connection turns it off and this
checkpointer runs a PASSIVE checkpoint from its own connection at most every `interval`
seconds while commits keep coming. PASSIVE never blocks the writer or the readers: it
copies what no reader still needs and leaves the rest for next time. Durability does not
depend on it; every commit is already durable in the WAL (synchronous=FULL).

Copying is not enough to keep the WAL small, though. SQLite starts the WAL over from its
first frame only when a write transaction begins on a WAL that is wholly copied, and
under steady writes one never is: commits land while the copy runs. The WAL then grew
without end (140 MB in 4 s at one appender), and every commit that made the file longer
paid for it in its fsync (a commit took 330-430 us against 190-220 us on a WAL that
starts over). So once the checkpointer finds the WAL past RESTART_FRAMES, the writer
itself, between two batches, runs a PASSIVE checkpoint too: with no commit landing
meanwhile it copies the little the checkpointer had not, so the next commit starts the WAL
over. (A RESTART checkpoint there, which waits for readers, cost POST ~9 % in A/B runs;
this PASSIVE one measured -5 % on average over five pairs, within this machine's spread.)
journal_size_limit then trims a WAL that a burst made longer.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor

from events.store.sqlite_schema import connect

__all__ = [
    "CHECKPOINT_SECONDS",
    "RESTART_FRAMES",
    "Checkpointer",
    "hand_over_checkpoints",
    "restart_wal",
    "scrub_wal",
]

CHECKPOINT_SECONDS = 0.2
# About 16 MB of 4 KiB pages: how long the WAL may grow before the writer starts it over.
RESTART_FRAMES = 4000
WAL_SIZE_LIMIT = 64 * 1024 * 1024

log = logging.getLogger("events.store.sqlite")


def hand_over_checkpoints(conn: sqlite3.Connection) -> None:
    """Stop a writer connection from checkpointing inside its own commits."""
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")


def restart_wal(conn: sqlite3.Connection) -> bool:
    """From the writer, between transactions: copy the rest of the WAL, so that the next
    commit starts it over. Return False when some was left (a reader still needed it, or
    the checkpointer was copying); a later call tries again."""
    busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return not busy and frames == copied


def scrub_wal(conn: sqlite3.Connection) -> bool:
    """Copy the whole WAL into the file and truncate it, or give up at once when busy.

    What leaves no older image of an overwritten page behind (see sqlite_keys): a TRUNCATE
    checkpoint, tried once with no busy wait, because one waiting on a reader holds the
    WAL's write lock and so stalls every writer.
    """
    (timeout,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        busy, _frames, _copied = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError:
        return False  # the database is locked: not now
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    return not busy


class Checkpointer:
    """Run a PASSIVE checkpoint after commits, one at a time, at most every interval seconds."""

    def __init__(
        self,
        path: str,
        *,
        interval: float = CHECKPOINT_SECONDS,
        restart_frames: int = RESTART_FRAMES,
    ) -> None:
        self._path = path
        self._interval = interval
        self.restart_frames = restart_frames
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        self._conn: sqlite3.Connection | None = None
        self._running: Future[None] | None = None
        self._last = 0.0
        self.checkpoints = 0
        # Frames in the WAL at the last checkpoint: the writer starts it over past a bound.
        self.wal_frames = 0

    def committed(self) -> bool:
        """Note a commit; start a checkpoint when none runs and the last is old enough.

        Return True instead when the WAL is due to start over and no checkpoint runs: the
        writer is to copy the rest itself now (restart_wal), before its next batch.
        """
        if self._running is not None and not self._running.done():
            return False
        if self.wal_frames >= self.restart_frames:
            self.wal_frames = 0
            return True
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._running = self._pool.submit(self._checkpoint)
        return False

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
            _busy, frames, _copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.wal_frames = frames
            self.checkpoints += 1
        except sqlite3.Error:
            # The WAL keeps every commit; a failed copy is retried on the next commit.
            log.warning(
                "a WAL checkpoint of %s failed; it will be retried", self._path, exc_info=True
            )
