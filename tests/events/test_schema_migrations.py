"""A log written by an older release opens under this one, its schema brought up to date."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from events.codec import EventCodec
from events.store.sqlite import SQLiteEventStore
from events.store.sqlite_schema import _MIGRATIONS, SCHEMA_VERSION
from tests.events.factories import make_events


async def test_a_version_1_sqlite_log_gains_the_idempotency_age_index(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(_MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.close()

    store = await SQLiteEventStore.open(str(path), codec=EventCodec())
    try:
        await store.append("s", make_events("s", 1, 2), 0)
        stored = [item.event.version async for item in store.read_all()]
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(idempotency)")}
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT key FROM idempotency WHERE created_at < ?", ("x",)
        ).fetchall()
    finally:
        conn.close()
    assert stored == [1, 2]
    assert version == SCHEMA_VERSION >= 2
    assert "idempotency_by_age" in indexes
    assert "idempotency_by_age" in " ".join(str(step) for step in plan)


async def test_a_version_2_sqlite_log_gains_the_consumers_table_and_tenant_order_index(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(_MIGRATIONS[0] + _MIGRATIONS[1])
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    store = await SQLiteEventStore.open(str(path), codec=EventCodec())
    await store.close()
    conn = sqlite3.connect(path)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT position FROM events WHERE tenant = ? AND env = ? "
            "AND position > ? ORDER BY position",
            ("t_a", "dev", 0),
        ).fetchall()
    finally:
        conn.close()
    assert {"consumers", "events_by_tenant_env"} <= tables
    assert "TEMP B-TREE" not in " ".join(str(step) for step in plan)
