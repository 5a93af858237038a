"""Write chat logs through the real pipeline, and tamper with them as sqlite3 would."""

from __future__ import annotations

import io
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chat_core.bootstrap import ChatCore, bootstrap
from chat_core.commands import (
    CreateThread,
    Idempotency,
    PostMessage,
    RedactMessage,
    SetTemperatureConfig,
)
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.export_view import ChatExportView, redacted_messages
from chat_core.settings import Settings
from chat_core.views import ThreadView
from events.codec import EventCodec
from events.envelope import DatasetEvent, Env
from events.store import open_store
from events.store.base import RecordedEvent
from events.store.sqlite import SQLiteEventStore
from events.tooling import Selection, export_events
from events.tooling.export import RowSource
from tests.tooling.payloads import NoteTakenV1, v1_codec
from transports.cli.keys_cli import open_key_ring

__all__ = [
    "OLD_NOTES",
    "append_old_notes",
    "db_path",
    "export_bytes",
    "rows",
    "sql",
    "write_chat_log",
]

OLD_NOTES = 3
TENANTS = ("t_acme", "t_globex")
ENVS = (Env.DEV, Env.PROD)
AUTH = AuthContext(sub="u_ada", memberships={tenant: frozenset({Role.ADMIN}) for tenant in TENANTS})


def db_path(url: str) -> str:
    """Return the file of a sqlite:/// URL."""
    return url.removeprefix("sqlite:///")


def _context(tenant: str, env: Env) -> RequestContext:
    return RequestContext(tenant=tenant, env=env, request_id=f"req-{uuid.uuid4().hex[:12]}")


async def open_core(url: str) -> ChatCore:
    """Bootstrap the chat core on the log at url."""
    return await bootstrap(settings=Settings(hs256_secret=b"x" * 32, store_url=url))


async def write_chat_log(url: str, *, threads_per_partition: int = 2, messages: int = 3) -> None:
    """Create threads, messages, a redaction and temperature configs in 2 tenants x 2 envs."""
    core = await open_core(url)
    try:
        for tenant in TENANTS:
            for env in ENVS:
                await _fill_partition(
                    core, tenant, env, threads_per_partition, messages, uuid.uuid4().hex
                )
    finally:
        await core.close()


async def _fill_partition(
    core: ChatCore, tenant: str, env: Env, threads: int, messages: int, run: str
) -> None:
    for number in range(threads):
        key = Idempotency(key=f"{run}-thread-{number}", fingerprint=f"fp-thread-{number}")
        thread = await core.bus.send(
            CreateThread(
                context=_context(tenant, env), auth=AUTH, title=f"t{number}", idempotency=key
            )
        )
        assert isinstance(thread, ThreadView)
        message_ids = []
        for seq in range(messages):
            idempotency = Idempotency(key=f"m-{thread.id}-{seq}", fingerprint=f"fp-{seq}")
            message = await core.bus.send(
                PostMessage(
                    context=_context(tenant, env),
                    auth=AUTH,
                    thread_id=thread.id,
                    role="user",
                    content=f"hello {seq}",
                    metadata={"n": str(seq)},
                    idempotency=idempotency if seq % 2 == 0 else None,
                )
            )
            message_ids.append(getattr(message, "id", None))
        await core.bus.send(
            RedactMessage(
                context=_context(tenant, env),
                auth=AUTH,
                thread_id=thread.id,
                message_id=str(message_ids[0]),
            )
        )
    await core.bus.send(
        SetTemperatureConfig(
            context=_context(tenant, env),
            auth=AUTH,
            default=0.7,
            min=0.1,
            max=1.5,
            overrides={"gpt": 0.3},
            idempotency=Idempotency(key=f"{run}-temp", fingerprint="fp-temp"),
        )
    )


async def append_old_notes(url: str) -> None:
    """Append schema-v1 notes as the old code wrote them, through the real store."""
    store = await open_store(url, codec=v1_codec())
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    try:
        for number in range(1, OLD_NOTES + 1):
            event = DatasetEvent(
                event_id=uuid.uuid4(),
                stream="notes/t_acme/dev",
                version=number,
                tenant="t_acme",
                env=Env.DEV,
                request_id=f"old-{number}",
                trace_id=f"old-{number}",
                actor="u_old",
                occurred_at=moment + timedelta(minutes=number),
                payload=NoteTakenV1(body=f"note {number}"),
            )
            await store.append(event.stream, [event], number - 1)
    finally:
        await store.close()


def sql(url: str, statement: str, params: tuple[object, ...] = ()) -> None:
    """Run one statement on the log's file with plain sqlite3, as someone tampering would."""
    conn = sqlite3.connect(db_path(url))
    try:
        conn.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def record_version_twice(url: str) -> None:
    """Copy the event at position 3 to position 100 (a new id, the same stream and version).

    The table is rebuilt without its UNIQUE (stream, version) first, as a careless hand
    migration would, so the store itself no longer refuses the duplicate.
    """
    sql(url, "CREATE TABLE loose AS SELECT * FROM events")
    sql(url, "DROP TABLE events")
    sql(url, "ALTER TABLE loose RENAME TO events")
    sql(
        url,
        "INSERT INTO events SELECT 100, randomblob(16), stream, version, type, schema_version,"
        " tenant, env, request_id, trace_id, actor, occurred_at, payload, metadata"
        " FROM events WHERE position = 3",
    )


def rows(url: str, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Return the rows of one query on the log's file."""
    conn = sqlite3.connect(db_path(url))
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def log_file(tmp_path: Path, name: str = "chat.db") -> str:
    """Return the sqlite URL of a file in tmp_path."""
    return f"sqlite:///{tmp_path / name}"


class _DecodedOnly:
    """The store, less its rows: export must take the generic path through read_all."""

    def __init__(self, store: SQLiteEventStore) -> None:
        self._store = store

    def read_all(self, **kwargs: Any) -> AsyncIterator[RecordedEvent]:
        return self._store.read_all(**kwargs)


async def export_bytes(
    url: str, selection: Selection, *, rows_path: bool = True, view: bool = True
) -> bytes:
    """Export a chat log in this process as `chat-core export` would, and return its bytes.

    rows_path=False hides the store's rows, so export decodes every event (the generic
    path); view=False exports without the chat view (sealed content, no redactions).
    """
    codec = EventCodec()
    store = await open_store(url, codec=codec)
    assert isinstance(store, SQLiteEventStore)
    keys = await open_key_ring(url)
    try:
        shown = (
            ChatExportView(
                keys=keys, redacted=await redacted_messages(store), converter=codec.converter
            )
            if view
            else None
        )
        source: Any = store if rows_path else _DecodedOnly(store)
        assert isinstance(source, RowSource) is rows_path
        out = io.BytesIO()
        await export_events(source, codec, selection, out, view=shown)
        return out.getvalue()
    finally:
        await keys.store.close()
        await store.close()
