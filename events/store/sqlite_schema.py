"""The SQLite event store's schema, its migrations, and how its connections are opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from events.store.records import StoreError

__all__ = ["COLUMNS", "SCHEMA_VERSION", "SEARCH_TABLES", "connect", "migrate"]

# Column order shared by every insert and select, so rows are plain tuples end to end.
COLUMNS = (
    "position, event_id, stream, version, type, schema_version, tenant, env, "
    "request_id, trace_id, actor, occurred_at, payload, metadata"
)

_V1 = """
CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    event_id BLOB NOT NULL UNIQUE,
    stream TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    env TEXT NOT NULL,
    request_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    payload BLOB NOT NULL,
    metadata BLOB,
    UNIQUE (stream, version)
);
CREATE INDEX events_by_tenant_env_type ON events (tenant, env, type, position);
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
"""

# Idempotency records are purged by age (EventStore.purge_idempotency).
_V2 = """
CREATE INDEX idempotency_by_age ON idempotency (created_at);
"""

# Durable consumers (events.consumers): a checkpoint per name in a tenant and env, and the
# index that reads a tenant and env's events from a position in order without sorting
# (the type index needs a type, or sorts every row of the tenant after the position).
_V3 = """
CREATE TABLE consumers (
    tenant TEXT NOT NULL,
    env TEXT NOT NULL,
    name TEXT NOT NULL,
    types TEXT NOT NULL,
    position INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant, env, name)
) WITHOUT ROWID;
CREATE INDEX events_by_tenant_env ON events (tenant, env, position);
"""

# Stream tickets (events.store.ticket_table): live ones by digest, counted per caller and
# tenant, forgotten by age.
_V4 = """
CREATE TABLE stream_tickets (
    digest BLOB PRIMARY KEY,
    tenant TEXT NOT NULL,
    caller TEXT NOT NULL,
    leaves_at REAL NOT NULL,
    body BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX stream_tickets_by_caller ON stream_tickets (tenant, caller);
CREATE INDEX stream_tickets_by_age ON stream_tickets (leaves_at);
"""

# Webhooks (events.webhooks): registrations with their wrapped secret, checkpoint and lease,
# and the deliveries the log cannot tell (retried, parked, replayed).
_V5 = """
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    env TEXT NOT NULL,
    url TEXT NOT NULL,
    types TEXT NOT NULL,
    description TEXT,
    secret BLOB NOT NULL,
    master_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    position INTEGER NOT NULL,
    holder TEXT,
    lease_until REAL
) WITHOUT ROWID;
CREATE INDEX webhooks_by_tenant_env ON webhooks (tenant, env, id);
CREATE TABLE webhook_deliveries (
    webhook_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    next_attempt_at REAL,
    status TEXT NOT NULL,
    PRIMARY KEY (webhook_id, position)
) WITHOUT ROWID;
"""

# The search index (events.store.search_reads): documents by rank key, the postings of
# their words and threads by (scope, term, key), and what redactions and erasures delete by.
_V6 = """
CREATE TABLE search_docs (
    key INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    env TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    author TEXT NOT NULL,
    key_id INTEGER,
    private INTEGER NOT NULL,
    words INTEGER NOT NULL,
    terms TEXT NOT NULL
);
CREATE TABLE search_postings (
    scope INTEGER NOT NULL,
    term TEXT NOT NULL,
    key INTEGER NOT NULL,
    PRIMARY KEY (scope, term, key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX search_docs_by_message ON search_docs (tenant, env, message_id);
CREATE INDEX search_docs_by_author ON search_docs (tenant, author);
"""

# Every append wrote three b-tree entries per indexed message besides its postings; a
# redaction finds its entry through the thread's postings instead, an erasure by a scan.
_V7 = """
DROP INDEX search_docs_by_message;
DROP INDEX search_docs_by_author;
"""

# What compacting the search index makes afresh (events.store.sqlite_search): the two
# tables as the migrations leave them. A copy of _V6's on purpose: a migration is a record
# of what ran and is never edited, while this follows the tables the day a migration
# changes them (tests/search hold a compacted file's schema to a migrated one's).
SEARCH_TABLES = """
CREATE TABLE search_docs (
    key INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    env TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    author TEXT NOT NULL,
    key_id INTEGER,
    private INTEGER NOT NULL,
    words INTEGER NOT NULL,
    terms TEXT NOT NULL
);
CREATE TABLE search_postings (
    scope INTEGER NOT NULL,
    term TEXT NOT NULL,
    key INTEGER NOT NULL,
    PRIMARY KEY (scope, term, key)
) WITHOUT ROWID;
"""

# Migration n brings user_version n-1 to n; append new ones, never edit old ones.
_MIGRATIONS = (_V1, _V2, _V3, _V4, _V5, _V6, _V7)
SCHEMA_VERSION = len(_MIGRATIONS)


def connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection in autocommit mode with WAL and fully synchronous commits."""
    if not readonly and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # check_same_thread is off because close() runs on another thread than the reads did.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to SCHEMA_VERSION, each step in its own transaction."""
    current: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"database schema version {current} is newer than this code ({SCHEMA_VERSION})"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
