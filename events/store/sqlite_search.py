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
secure-delete, which would avoid the copy, needs 3.42). Measured on bench.search's log
(one redaction, an append issued 1 ms behind it): 100,000 messages (1.3M postings, a
144 MB file) hold both for 1.6-1.9 s; 1,000,000 (13M postings, 1.45 GB) for 15-19 s,
against under 1 ms for an append alone. About half of it is copying the postings, a
quarter zeroing the old tables' pages as they are dropped, the rest the commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

import orjson

from events.search.records import (
    IndexChange,
    IndexDrop,
    IndexErase,
    IndexPut,
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
# A scope's postings in one statement: a JSON object of each document's key (in decimal)
# to its terms. Bound a row at a time (executemany), a 14-word message's 15 postings cost
# about 193k instructions under callgrind, this way 133k: SQLite's JSON walk replaces, per
# row, a round of Python binding and a release and retake of the GIL.
# tests/search/test_index_write.py holds the rows to search_reads.postings.
_INSERT_POSTINGS = (
    "INSERT INTO search_postings (scope, term, key) "
    "SELECT ?1, term.value, CAST(doc.key AS INTEGER) "
    "FROM json_each(?2) AS doc, json_each(doc.value) AS term"
)
_DELETE_POSTING = "DELETE FROM search_postings WHERE scope = ? AND term = ? AND key = ?"
_DELETE_DOC = "DELETE FROM search_docs WHERE key = ?"
_BY_MESSAGE = (
    f"{_DOCS} WHERE key IN (SELECT key FROM search_postings WHERE scope = ? AND term = ?)"  # noqa: S608
    " AND tenant = ? AND env = ? AND message_id = ?"
)
_BY_AUTHOR = f"{_DOCS} WHERE tenant = ? AND author = ? AND (key_id IS NULL OR key_id <= ?)"


def apply_changes(conn: sqlite3.Connection, changes: Iterable[tuple[IndexChange, int]]) -> bool:
    """Write index changes (each beside its key) in order, inside the caller's transaction.

    Tell whether any deleted.
    """
    docs: list[SearchDoc] = []
    keys: list[int] = []
    deleted = False
    for change, key in changes:
        if isinstance(change, IndexPut):
            docs.append(change.doc)
            keys.append(key)
            continue
        _insert(conn, docs, keys)
        docs, keys = [], []
        deleted = _delete(conn, change) or deleted
    _insert(conn, docs, keys)
    return deleted


def _insert(conn: sqlite3.Connection, docs: Sequence[SearchDoc], keys: Sequence[int]) -> None:
    """Insert documents under keys, and their postings (search_reads.postings) a scope at once."""
    if not docs:
        return
    conn.executemany(_INSERT_DOC, [doc_row(doc, key) for doc, key in zip(docs, keys, strict=True)])
    scopes: dict[int, dict[str, list[str]]] = {}
    for doc, key in zip(docs, keys, strict=True):
        terms = scopes.setdefault(scope_id(doc.tenant, doc.env), {})
        terms[str(key)] = [*doc.terms, thread_term(doc.thread_id)]
    for scope, terms in scopes.items():
        conn.execute(_INSERT_POSTINGS, (scope, orjson.dumps(terms).decode()))


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
        _insert(conn, docs, [doc.key for doc in docs])


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
