"""One server per SQLite file: the serving lock.

A SQLite store trusts that its process is the file's only appender (`sole_writer`): its
writer remembers stream versions and its read models trust their own appends. Two servers
on one file would each serve stale reads of the other's writes. `chat-core serve` holds an
exclusive flock(2) on the database file itself for as long as it runs, so a second one
refuses to start and says which process holds the file. The lock belongs to the file, not
to the name it was opened by: a server reaching the same file through a symbolic link, a
hard link or another spelling of its path meets the same lock (a lock on `<path>.serving`
did not, and two servers on one file each served their own stale cache). The operating
system drops the lock when the process ends, however it ends (a SIGKILL included), so
there is nothing to clean up. One-off commands (export, verify, erase, …) do not take it:
they may run beside a server.

flock locks and the POSIX record locks SQLite takes on the same file are separate on
Linux and the BSDs, so the two never meet. The descriptor is closed only after the server
has closed its store: closing any descriptor of a file drops the POSIX locks its process
holds on it, SQLite's included.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from events.store.records import StoreError

__all__ = ["FileServed", "serving_lock"]

# What SQLite gives a database file it creates (SQLITE_DEFAULT_FILE_PERMISSIONS), less umask.
_MODE = 0o644


class FileServed(StoreError):
    """Another process is serving this SQLite file."""


@contextmanager
def serving_lock(path: str) -> Iterator[None]:
    """Hold the database file's serving lock for the block, or raise FileServed at once.

    The file is created empty when it does not exist yet (SQLite takes an empty file for
    a new database), so that two servers starting at once on a new file meet one lock.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, _MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FileServed(
                f"another chat-core server (pid {_holder(fd)}) is serving {path}; "
                "one server per SQLite file (use PostgreSQL to run several)"
            ) from None
        yield
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """Return the pid holding a flock on the file, from /proc/locks where there is one."""
    stat = os.fstat(fd)
    # /proc/locks names a file as major:minor:inode, the device numbers in hex.
    file_id = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                fields = line.split()
                # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2157930 0 EOF"; "->" marks a waiter,
                # pid 0 a holder outside this pid namespace.
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == file_id:
                    return fields[4] if fields[4] != "0" else "unknown"
    except OSError:
        pass
    return "unknown"
