"""Compacting the SQLite index makes its tables afresh: exactly as the migrations left them.

compact_index builds the tables from SEARCH_TABLES, a copy of what the migrations made
(a migration is never edited); when a later migration changes the tables, this fails
until SEARCH_TABLES follows.
"""

from __future__ import annotations

from pathlib import Path

from events.store.sqlite_schema import connect, migrate
from events.store.sqlite_search import compact_index

_SCHEMA = (
    "SELECT type, name, tbl_name, sql FROM sqlite_master "
    "WHERE tbl_name IN ('search_docs', 'search_postings') ORDER BY name"
)


def test_a_compacted_index_has_the_migrated_tables(tmp_path: Path) -> None:
    conn = connect(str(tmp_path / "chat.db"))
    try:
        migrate(conn)
        migrated = conn.execute(_SCHEMA).fetchall()
        assert {row[1] for row in migrated} >= {"search_docs", "search_postings"}
        compact_index(conn)
        assert conn.execute(_SCHEMA).fetchall() == migrated
    finally:
        conn.close()
