"""The group-commit step: write many pending appends in one transaction, each failing alone."""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from events.store.group_commit import PendingAppend
from events.store.records import (
    ConcurrencyError,
    IdempotencyConflict,
    InvalidAppend,
    RecordedEvent,
    StoreError,
    check_batch,
)
from events.store.sqlite_schema import COLUMNS
from events.store.sqlite_search import apply_changes

__all__ = ["StreamVersions", "write_batch"]

_INSERT_EVENT = f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * 14)})"  # noqa: S608
_INSERT_IDEMPOTENCY = (
    "INSERT INTO idempotency (key, fingerprint, status, body, created_at) VALUES (?, ?, ?, ?, ?)"
)
_STREAM_VERSION = "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?"
_HEAD = "SELECT COALESCE(MAX(position), 0) FROM events"


class StreamVersions:
    """The committed version of recently written streams, kept by the only writer."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._versions: OrderedDict[str, int] = OrderedDict()

    def get(self, conn: sqlite3.Connection, stream: str, *, expected: int | None) -> int:
        """Return the stream's committed version, from memory or from the database.

        A remembered version that disagrees with the caller's is read again: another
        process may have moved the stream, and only the database can say.
        """
        version = self._versions.get(stream)
        if version is None or (expected is not None and expected != version):
            version = conn.execute(_STREAM_VERSION, (stream,)).fetchone()[0]
        return version

    def forget(self, streams: Iterable[str]) -> None:
        """Drop what is remembered of these streams."""
        for stream in streams:
            self._versions.pop(stream, None)

    def committed(self, versions: dict[str, int]) -> None:
        """Remember the versions a transaction has just committed."""
        for stream, version in versions.items():
            self._versions[stream] = version
            self._versions.move_to_end(stream)
        while len(self._versions) > self._capacity:
            self._versions.popitem(last=False)


def write_batch(
    conn: sqlite3.Connection, batch: Sequence[PendingAppend], known: StreamVersions
) -> tuple[int, bool]:
    """Write every append that fits in one transaction; return the new head position and
    whether the transaction deleted search index entries.

    The usual batch clashes with no stored id, version or idempotency key, so it is
    inserted with one statement per table; only when that hits a constraint is the batch
    redone with a savepoint per append and versions read afresh, so that the offender
    alone fails, with the error it would have had without the fast path.
    """
    try:
        return _write(conn, batch, known, each=False)
    except sqlite3.IntegrityError:
        # A remembered version may be stale (another process wrote the file): ask the
        # database again, so a moved stream is a ConcurrencyError, not a clash.
        known.forget(item.stream for item in batch)
        for item in batch:
            item.outcome = None
        return _write(conn, batch, known, each=True)


def _write(
    conn: sqlite3.Connection, batch: Sequence[PendingAppend], known: StreamVersions, *, each: bool
) -> tuple[int, bool]:
    """Write what passes its checks in one transaction; return what write_batch does.

    Versions are tracked in memory so two appends to one stream in the same batch are
    checked in order; with each, every append is inserted in its own savepoint, else all
    are inserted together after the checks.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        head: int = conn.execute(_HEAD).fetchone()[0]
        versions: dict[str, int] = {}
        rows: list[tuple[Any, ...]] = []
        keys: list[tuple[Any, ...]] = []
        indexed: list[PendingAppend] = []
        deleted = False
        for item in batch:
            current = versions.get(item.stream)
            if current is None:
                current = known.get(conn, item.stream, expected=item.expected_version)
            try:
                _check(item, current)
                if each:
                    _insert(conn, item, head)
            except StoreError as exc:
                item.outcome = exc
                continue
            if not each:
                rows.extend((head + offset, *row) for offset, row in enumerate(item.rows, 1))
                if item.idempotency is not None:
                    keys.append(item.idempotency)
            item.outcome = [
                RecordedEvent(event=event, position=head + offset)
                for offset, event in enumerate(item.events, start=1)
            ]
            if each and item.index:
                deleted = apply_changes(conn, item.ranked()) or deleted
            elif item.index:
                indexed.append(item)
            head += len(item.rows)
            versions[item.stream] = current + len(item.rows)
        if keys:
            conn.executemany(_INSERT_IDEMPOTENCY, keys)
        if rows:
            conn.executemany(_INSERT_EVENT, rows)
        if indexed:
            ranked = [change for item in indexed for change in item.ranked()]
            deleted = apply_changes(conn, ranked) or deleted
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    known.committed(versions)
    return head, deleted


def _check(item: PendingAppend, current: int) -> None:
    if item.expected_version is not None and item.expected_version != current:
        raise ConcurrencyError(item.stream, item.expected_version, current)
    check_batch(item.stream, item.events, current)


def _insert(conn: sqlite3.Connection, item: PendingAppend, head: int) -> None:
    conn.execute("SAVEPOINT append")
    try:
        if item.idempotency is not None:
            try:
                conn.execute(_INSERT_IDEMPOTENCY, item.idempotency)
            except sqlite3.IntegrityError:
                key = item.idempotency[0]
                raise IdempotencyConflict(f"idempotency key {key!r} already recorded") from None
        try:
            conn.executemany(
                _INSERT_EVENT,
                [(head + offset, *row) for offset, row in enumerate(item.rows, start=1)],
            )
        except sqlite3.IntegrityError as exc:
            raise InvalidAppend(f"events clash with recorded ones: {exc}") from None
    except BaseException:
        conn.execute("ROLLBACK TO append")
        conn.execute("RELEASE append")
        raise
    conn.execute("RELEASE append")
