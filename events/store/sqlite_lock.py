"""One server per SQLite file: the serving lock.

A SQLite store trusts that its process is the file's only appender (`sole_writer`): its
writer remembers stream versions and its read models trust their own appends. Two servers
on one file would each serve stale reads of the other's writes. `chat-core serve` holds an
exclusive lock on `<file>.serving` for as long as it runs, so a second one refuses to start
and says which process holds the file. The operating system drops the lock when the
process ends, however it ends (a SIGKILL included), so there is nothing to clean up.
One-off commands (export, verify, erase, …) do not take it: they may run beside a server.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from events.store.base import StoreError

__all__ = ["FileServed", "serving_lock"]


class FileServed(StoreError):
    """Another process is serving this SQLite file."""


@contextmanager
def serving_lock(path: str) -> Iterator[None]:
    """Hold the file's serving lock for the block, or raise FileServed at once."""
    lock_path = Path(f"{path}.serving")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise FileServed(
                f"another chat-core server (pid {holder}) is serving {path}; "
                "one server per SQLite file (use PostgreSQL to run several)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)
