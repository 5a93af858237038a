"""The search index in PostgreSQL: its statements, and its writes in the append transaction.

The same documents and postings as SQLite's (events.store.search_reads), terms compared in
the C collation so that a prefix's range is a range of the index. A deleted row's bytes
stay in the table's files until VACUUM reuses the space; no reader sees them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from events.search.records import IndexChange, IndexDrop, IndexErase, SearchDoc
from events.store.search_reads import DOC_COLUMNS, SearchStatements, doc_row, postings, row_doc

__all__ = ["STATEMENTS", "apply_changes", "clear_index", "load_index"]


_DOCS = f"SELECT {DOC_COLUMNS} FROM search_docs"  # noqa: S608
STATEMENTS = SearchStatements(
    count=(
        "SELECT count(*) FROM (SELECT 1 FROM search_postings "
        "WHERE scope = $1 AND term = $2 LIMIT $3) AS found"
    ),
    count_prefix=(
        "SELECT count(*) FROM (SELECT 1 FROM search_postings "
        "WHERE scope = $1 AND term >= $2 AND term < $3 LIMIT $4) AS found"
    ),
    postings=(
        "SELECT key FROM search_postings WHERE scope = $1 AND term = $2 AND key > $3 "
        "ORDER BY key LIMIT $4"
    ),
    postings_prefix=(
        "SELECT DISTINCT key FROM search_postings "
        "WHERE scope = $1 AND term >= $2 AND term < $3 AND key > $4 ORDER BY key LIMIT $5"
    ),
    docs=f"{_DOCS} WHERE key = ANY($1::bigint[])",
    holding=(
        "SELECT key FROM search_postings WHERE scope = $1 AND term = $2 AND key = ANY($3::bigint[])"
    ),
    holding_prefix=(
        "SELECT DISTINCT key FROM search_postings WHERE scope = $1 AND term >= $2 "
        "AND term < $3 AND key = ANY($4::bigint[])"
    ),
    keys_param=list,
)
_INSERT_DOCS = (
    f"INSERT INTO search_docs ({DOC_COLUMNS}) SELECT * FROM unnest("  # noqa: S608
    "$1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
    "$7::int[], $8::bool[], $9::int[], $10::text[])"
)
_INSERT_POSTINGS = (
    "INSERT INTO search_postings (scope, term, key) "
    "SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[])"
)
_DELETE_POSTINGS = (
    "DELETE FROM search_postings WHERE (scope, term, key) IN "
    "(SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[]))"
)
_DELETE_DOCS = "DELETE FROM search_docs WHERE key = ANY($1::bigint[])"
_BY_MESSAGE = f"{_DOCS} WHERE tenant = $1 AND env = $2 AND message_id = $3"
_BY_AUTHOR = f"{_DOCS} WHERE tenant = $1 AND author = $2 AND (key_id IS NULL OR key_id <= $3)"


async def apply_changes(conn: Any, changes: Iterable[IndexChange]) -> None:
    """Write index changes in order, inside the caller's transaction."""
    docs: list[SearchDoc] = []
    for change in changes:
        if isinstance(change, IndexDrop | IndexErase):
            await load_index(conn, docs)
            docs = []
            await _delete(conn, change)
        else:
            docs.append(attrs.evolve(change.doc, key=change.key))
    await load_index(conn, docs)


async def load_index(conn: Any, docs: Sequence[SearchDoc]) -> None:
    """Insert ranked documents and their postings, in the caller's transaction."""
    if not docs:
        return
    await conn.execute(_INSERT_DOCS, *_columns([doc_row(doc) for doc in docs], 10))
    rows = [row for doc in docs for row in postings(doc)]
    await conn.execute(_INSERT_POSTINGS, *_columns(rows, 3))


async def clear_index(conn: Any) -> None:
    """Delete every document and posting."""
    await conn.execute("TRUNCATE search_postings, search_docs")


async def _delete(conn: Any, change: IndexDrop | IndexErase) -> None:
    if isinstance(change, IndexDrop):
        found = await conn.fetch(_BY_MESSAGE, change.tenant, change.env, change.message_id)
    else:
        found = await conn.fetch(_BY_AUTHOR, change.tenant, change.author, change.through_key_id)
    docs = [row_doc(row) for row in found]
    if docs:
        rows = [row for doc in docs for row in postings(doc)]
        await conn.execute(_DELETE_POSTINGS, *_columns(rows, 3))
        await conn.execute(_DELETE_DOCS, [doc.key for doc in docs])


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)] or [[]] * width
