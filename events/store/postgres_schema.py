"""The PostgreSQL event store's schema and its migrations, run under an advisory lock."""

from __future__ import annotations

from typing import Any

from events.store.records import StoreError

__all__ = ["APPEND_LOCK", "CHANNEL", "COLUMNS", "MIGRATION_LOCK", "SCHEMA_VERSION", "migrate"]

# Advisory lock keys are per database; "chatcore" in ASCII, and the next number.
APPEND_LOCK = 0x63686174636F7265
MIGRATION_LOCK = APPEND_LOCK + 1
CHANNEL = "chat_core_events"

# Column order shared by every insert and select, so rows are plain tuples end to end.
COLUMNS = (
    "position, event_id, stream, version, type, schema_version, tenant, env, "
    "request_id, trace_id, actor, occurred_at, payload, metadata"
)

# json (not jsonb) keeps the codec's bytes exactly as written, and still answers ->> in psql.
_V1 = """
CREATE TABLE events (
    position bigint PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    stream text NOT NULL,
    version integer NOT NULL,
    type text NOT NULL,
    schema_version integer NOT NULL,
    tenant text NOT NULL,
    env text NOT NULL,
    request_id text NOT NULL,
    trace_id text NOT NULL,
    actor text NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload json NOT NULL,
    metadata json,
    UNIQUE (stream, version)
);
CREATE INDEX events_by_tenant_env_type ON events (tenant, env, type, position);
CREATE TABLE idempotency (
    key text PRIMARY KEY,
    fingerprint text NOT NULL,
    status integer NOT NULL,
    body bytea NOT NULL,
    created_at timestamptz NOT NULL
);
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
    tenant text NOT NULL,
    env text NOT NULL,
    name text NOT NULL,
    types text[] NOT NULL,
    position bigint NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, env, name)
);
CREATE INDEX events_by_tenant_env ON events (tenant, env, position);
"""

# Stream tickets (events.store.ticket_table): live ones by digest, counted per caller and
# tenant, forgotten by age.
_V4 = """
CREATE TABLE stream_tickets (
    digest bytea PRIMARY KEY,
    tenant text NOT NULL,
    caller text NOT NULL,
    leaves_at double precision NOT NULL,
    body bytea NOT NULL
);
CREATE INDEX stream_tickets_by_caller ON stream_tickets (tenant, caller);
CREATE INDEX stream_tickets_by_age ON stream_tickets (leaves_at);
"""

# Webhooks (events.webhooks): registrations with their wrapped secret, checkpoint and lease,
# and the deliveries the log cannot tell (retried, parked, replayed).
_V5 = """
CREATE TABLE webhooks (
    id text PRIMARY KEY,
    tenant text NOT NULL,
    env text NOT NULL,
    url text NOT NULL,
    types text[] NOT NULL,
    description text,
    secret bytea NOT NULL,
    master_id text NOT NULL,
    created_at timestamptz NOT NULL,
    position bigint NOT NULL,
    holder text,
    lease_until double precision
);
CREATE INDEX webhooks_by_tenant_env ON webhooks (tenant, env, id);
CREATE TABLE webhook_deliveries (
    webhook_id text NOT NULL,
    position bigint NOT NULL,
    event_id text NOT NULL,
    attempts integer NOT NULL,
    last_status integer,
    last_error text,
    next_attempt_at double precision,
    status text NOT NULL,
    PRIMARY KEY (webhook_id, position)
);
"""

# The search index (events.store.postgres_search).
_V6 = """
CREATE TABLE search_docs (
    key bigint PRIMARY KEY,
    tenant text NOT NULL,
    env text NOT NULL,
    thread_id text NOT NULL,
    message_id text NOT NULL,
    author text NOT NULL,
    key_id integer,
    private boolean NOT NULL,
    words integer NOT NULL,
    terms text NOT NULL
);
CREATE UNIQUE INDEX search_docs_by_message ON search_docs (tenant, env, message_id);
CREATE INDEX search_docs_by_author ON search_docs (tenant, author);
CREATE TABLE search_postings (
    scope bigint NOT NULL,
    term text COLLATE "C" NOT NULL,
    key bigint NOT NULL,
    PRIMARY KEY (scope, term, key)
);
"""

# Migration n brings schema version n-1 to n; append new ones, never edit old ones.
_MIGRATIONS = (_V1, _V2, _V3, _V4, _V5, _V6)
SCHEMA_VERSION = len(_MIGRATIONS)

_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS chat_core_schema (version integer PRIMARY KEY)"


async def migrate(conn: Any) -> None:
    """Bring the schema up to SCHEMA_VERSION, each step in its own transaction.

    A session advisory lock makes concurrent start-ups take turns: the first migrates,
    the others then find the schema current and do nothing.
    """
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(_VERSION_TABLE)
        current: int = await conn.fetchval("SELECT COALESCE(max(version), 0) FROM chat_core_schema")
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"database schema version {current} is newer than this code ({SCHEMA_VERSION})"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            async with conn.transaction():
                await conn.execute(_MIGRATIONS[version - 1])
                await conn.execute("INSERT INTO chat_core_schema (version) VALUES ($1)", version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
