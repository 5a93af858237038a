"""The search index in the SQLite log's file: its statements, and its writes in a transaction.

The writer connection runs with secure_delete on, so a deleted document's words are
overwritten in the cells they were in. That is not enough: when SQLite splits or merges
a b-tree page it rewrites the page's cells without clearing the space they leave, so
older copies of cells linger in pages' unused space, out of reach of any deletion. So
after a commit that deleted words the writer compacts the index (compact_index: copies
both tables afresh in key order and drops the old ones, whose freed pages secure_delete
zeroes), then scrubs (a TRUNCATE checkpoint, as the key store's scrub), so that no older
image of a page stays in the WAL or the file; a scrub that is busy is retried after the
next commits. Compacting costs time in proportion to the index, on the writer: the price
of a redaction or an erasure that leaves no word behind on this SQLite (3.40; FTS5's
secure-delete, which would avoid the copy, needs 3.42).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from events.search.records import (
    IndexChange,
    IndexDrop,
    IndexErase,
    SearchDoc,
    scope_id,
    thread_term,
)
from events.store.search_reads import DOC_COLUMNS, SearchStatements, doc_row, postings, row_doc
from events.store.sqlite_schema import SEARCH_TABLES

__all__ = ["STATEMENTS", "apply_changes", "clear_index", "compact_index", "load_index"]

_DOCS = f"SELECT {DOC_COLUMNS} FROM search_docs"  # noqa: S608
STATEMENTS = SearchStatements(
    count=(
        "SELECT count(*) FROM (SELECT 1 FROM search_postings WHERE scope = ? AND term = ? LIMIT ?)"
    ),
    count_prefix=(
        "SELECT count(*) FROM (SELECT 1 FROM search_postings "
        "WHERE scope = ? AND term >= ? AND term < ? LIMIT ?)"
    ),
    postings=(
        "SELECT key FROM search_postings WHERE scope = ? AND term = ? AND key > ? "
        "ORDER BY key LIMIT ?"
    ),
    postings_prefix=(
        "SELECT DISTINCT key FROM search_postings "
        "WHERE scope = ? AND term >= ? AND term < ? AND key > ? ORDER BY key LIMIT ?"
    ),
    docs=f"{_DOCS} WHERE key IN (SELECT value FROM json_each(?))",  # noqa: S608
    holding=(
        "SELECT key FROM search_postings WHERE scope = ? AND term = ? "
        "AND key IN (SELECT value FROM json_each(?))"
    ),
    holding_prefix=(
        "SELECT DISTINCT key FROM search_postings WHERE scope = ? AND term >= ? AND term < ? "
        "AND key IN (SELECT value FROM json_each(?))"
    ),
    keys_param=lambda keys: orjson.dumps(list(keys)).decode(),
)
_INSERT_DOC = f"INSERT INTO search_docs ({DOC_COLUMNS}) VALUES ({', '.join('?' * 10)})"  # noqa: S608
_INSERT_POSTING = "INSERT INTO search_postings (scope, term, key) VALUES (?, ?, ?)"
_DELETE_POSTING = "DELETE FROM search_postings WHERE scope = ? AND term = ? AND key = ?"
_DELETE_DOC = "DELETE FROM search_docs WHERE key = ?"
_BY_MESSAGE = (
    f"{_DOCS} WHERE key IN (SELECT key FROM search_postings WHERE scope = ? AND term = ?)"  # noqa: S608
    " AND tenant = ? AND env = ? AND message_id = ?"
)
_BY_AUTHOR = f"{_DOCS} WHERE tenant = ? AND author = ? AND (key_id IS NULL OR key_id <= ?)"


def apply_changes(conn: sqlite3.Connection, changes: Iterable[IndexChange]) -> bool:
    """Write index changes in order, inside the caller's transaction; tell if any deleted."""
    docs: list[tuple[Any, ...]] = []
    rows: list[tuple[int, str, int]] = []
    deleted = False
    for change in changes:
        if isinstance(change, IndexDrop | IndexErase):
            _insert(conn, docs, rows)
            docs, rows = [], []
            deleted = _delete(conn, change) or deleted
            continue
        docs.append(doc_row(change.doc, change.key))
        rows.extend(postings(change.doc, change.key))
    _insert(conn, docs, rows)
    return deleted


def _insert(
    conn: sqlite3.Connection, docs: Sequence[tuple[Any, ...]], rows: Sequence[tuple[int, str, int]]
) -> None:
    if docs:
        conn.executemany(_INSERT_DOC, docs)
        conn.executemany(_INSERT_POSTING, rows)


def _delete(conn: sqlite3.Connection, change: IndexDrop | IndexErase) -> bool:
    if isinstance(change, IndexDrop):
        thread = (scope_id(change.tenant, change.env), thread_term(change.thread_id))
        found = conn.execute(_BY_MESSAGE, (*thread, change.tenant, change.env, change.message_id))
    else:
        found = conn.execute(_BY_AUTHOR, (change.tenant, change.author, change.through_key_id))
    docs = [row_doc(row) for row in found.fetchall()]
    for doc in docs:
        conn.executemany(_DELETE_POSTING, postings(doc))
        conn.execute(_DELETE_DOC, (doc.key,))
    return bool(docs)


def clear_index(conn: sqlite3.Connection) -> None:
    """Delete every document and posting, in one transaction."""
    with conn:
        conn.execute("DELETE FROM search_postings")
        conn.execute("DELETE FROM search_docs")


def load_index(conn: sqlite3.Connection, docs: Sequence[SearchDoc]) -> None:
    """Insert ranked documents and their postings, in one transaction."""
    with conn:
        conn.executemany(_INSERT_DOC, [doc_row(doc) for doc in docs])
        conn.executemany(_INSERT_POSTING, [row for doc in docs for row in postings(doc)])


def compact_index(conn: sqlite3.Connection) -> None:
    """Copy the index into new tables in key order and drop the old, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("ALTER TABLE search_docs RENAME TO search_docs_old")
        conn.execute("ALTER TABLE search_postings RENAME TO search_postings_old")
        for statement in SEARCH_TABLES.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT INTO search_docs SELECT * FROM search_docs_old ORDER BY key")
        conn.execute(
            "INSERT INTO search_postings SELECT * FROM search_postings_old "
            "ORDER BY scope, term, key"
        )
        conn.execute("DROP TABLE search_docs_old")
        conn.execute("DROP TABLE search_postings_old")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
