"""The append transaction: many pending appends decided under one lock, inserted in one statement.

Every append transaction first takes the transaction-level advisory lock APPEND_LOCK and
holds it until it commits. Positions are numbered from the head read after the lock is
granted, so they commit in position order, on every instance sharing the database.
Holding the lock also means no other writer can change a stream's version or claim an
idempotency key meanwhile, so each append is checked in Python against one read of the
state, with earlier appends of the batch counted in, and then all the survivors are
inserted, with the NOTIFY of the new head, in one statement.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg

from events.store.group_commit import PendingAppend, decide
from events.store.postgres_schema import APPEND_LOCK, CHANNEL, COLUMNS
from events.store.postgres_search import apply_changes
from events.store.records import (
    IdempotencyConflict,
    InvalidAppend,
    StoreError,
)

__all__ = ["write_batch"]

_BEGIN = f"BEGIN; SELECT pg_advisory_xact_lock({APPEND_LOCK})"
_STATE = """
SELECT
    (SELECT COALESCE(max(position), 0) FROM events),
    ARRAY(SELECT ROW(stream, max(version)) FROM events
          WHERE stream = ANY($1::text[]) GROUP BY stream),
    ARRAY(SELECT key FROM idempotency WHERE key = ANY($2::text[]))
"""
_EVENT_TYPES = [
    "bigint",
    "uuid",
    "text",
    "int",
    "text",
    "int",
    "text",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "json",
    "json",
]
_IDEMPOTENCY_TYPES = ["text", "text", "int", "bytea", "timestamptz"]
_UNNEST_EVENTS = ", ".join(f"${n}::{t}[]" for n, t in enumerate(_EVENT_TYPES, start=1))
_UNNEST_IDEMPOTENCY = ", ".join(f"${n}::{t}[]" for n, t in enumerate(_IDEMPOTENCY_TYPES, start=15))
# Built from constants only, never from input.
_INSERT = f"""
WITH idempotency_rows AS (
    INSERT INTO idempotency (key, fingerprint, status, body, created_at)
    SELECT * FROM unnest({_UNNEST_IDEMPOTENCY})
), event_rows AS (
    INSERT INTO events ({COLUMNS}) SELECT * FROM unnest({_UNNEST_EVENTS})
)
SELECT pg_notify('{CHANNEL}', $20)
"""  # noqa: S608


async def write_batch(conn: Any, batch: Sequence[PendingAppend]) -> int:
    """Commit every append of the batch that fits, set each one's outcome, return the head.

    An append that fails its checks is left out alone; if the insert itself is refused
    (an event id already recorded), the batch is retried one append per transaction so
    only the offending append fails.
    """
    try:
        return await _commit(conn, batch)
    except asyncpg.UniqueViolationError as exc:
        if len(batch) == 1:
            batch[0].outcome = _clash(exc)
            return int(await conn.fetchval("SELECT COALESCE(max(position), 0) FROM events"))
    head = 0
    for item in batch:
        item.outcome = None
        head = await write_batch(conn, [item])
    return head


async def _commit(conn: Any, batch: Sequence[PendingAppend]) -> int:
    await conn.execute(_BEGIN)
    try:
        head, versions, keys = await conn.fetchrow(
            _STATE,
            list({item.stream for item in batch}),
            [item.idempotency[0] for item in batch if item.idempotency is not None],
        )
        accepted, head = decide(batch, head, dict(versions), set(keys))
        if accepted:
            await conn.execute(_INSERT, *_columns(accepted), str(head))
            changes = [change for item in accepted for change in item.ranked_index()]
            if changes:
                await apply_changes(conn, changes)
        await conn.execute("COMMIT")
    except BaseException:
        # If this fails too, the pool rolls back (or drops) the connection on release.
        with contextlib.suppress(Exception):
            await conn.execute("ROLLBACK")
        raise
    return int(head)


def _columns(accepted: Sequence[PendingAppend]) -> list[list[Any]]:
    """Return the insert's parameters: one array per column, events then idempotency."""
    event_rows = [
        (recorded.position, *row)
        for item in accepted
        for recorded, row in zip(item.outcome, item.rows, strict=True)  # type: ignore[arg-type]
    ]
    idempotency_rows = [item.idempotency for item in accepted if item.idempotency is not None]
    event_columns = [list(column) for column in zip(*event_rows, strict=True)] or [[]] * 14
    key_columns = [list(column) for column in zip(*idempotency_rows, strict=True)] or [[]] * 5
    return [*event_columns, *key_columns]


def _clash(exc: asyncpg.UniqueViolationError) -> StoreError:
    if getattr(exc, "table_name", None) == "idempotency":
        return IdempotencyConflict(f"idempotency key already recorded: {exc}")
    return InvalidAppend(f"events clash with recorded ones: {exc}")
