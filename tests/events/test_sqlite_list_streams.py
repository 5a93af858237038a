"""SQLite lists stream names from the (stream, version) index, never by sorting the table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from events.codec import EventCodec
from events.store import sqlite as sqlite_store
from events.store.sqlite import SQLiteEventStore


@pytest.mark.parametrize(
    ("sql", "params"),
    [(sqlite_store._STREAMS_FIRST, (10,)), (sqlite_store._STREAMS_AFTER, ("chat/", 10))],
    ids=["first-page", "after-a-name"],
)
async def test_list_streams_searches_the_stream_version_index(
    tmp_path: Path, sql: str, params: tuple[object, ...]
) -> None:
    path = str(tmp_path / "events.db")
    store = await SQLiteEventStore.open(path, codec=EventCodec())
    await store.close()
    conn = sqlite3.connect(path)
    try:
        plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        (index,) = [
            name
            for (name,) in conn.execute("SELECT name FROM pragma_index_list('events')")
            if [row[2] for row in conn.execute(f"PRAGMA index_info('{name}')")]
            == ["stream", "version"]
        ]
    finally:
        conn.close()
    assert f"USING COVERING INDEX {index}" in plan
    assert "TEMP B-TREE" not in plan
