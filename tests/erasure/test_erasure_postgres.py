"""On PostgreSQL too: after an erasure, the subject's words and key are in no table."""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import asyncpg
import pytest

from tests.http.helpers import auth_headers, build_core, create_thread, post_message
from transports.http.app import create_app

pytestmark = pytest.mark.postgres


async def _table_bytes(url: str) -> bytes:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CHECKPOINT")
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        dumped = [
            str(await conn.fetch(f'SELECT * FROM "{row["tablename"]}"')).encode() for row in tables
        ]
    finally:
        await conn.close()
    return b"".join(dumped)


async def test_erased_words_are_in_no_postgres_table(
    aiohttp_client: Any, postgres_url: str, master_key: str
) -> None:
    core = await build_core(store_url=postgres_url, master_key=base64.b64decode(master_key))
    client = await aiohttp_client(create_app(core))
    admin, bob = auth_headers("u_ada", "t_globex"), auth_headers("u_bob", "t_globex")
    words, kept = f"bob-{uuid.uuid4().hex}", f"ada-{uuid.uuid4().hex}"
    thread = await create_thread(client, admin)
    await post_message(client, bob, thread["id"], words)
    await post_message(client, admin, thread["id"], kept)
    # A thread's title and metadata are its creator's words, erased with them.
    bobs = await create_thread(client, bob, title=f"{words}-title", metadata={"m": f"{words}-m"})
    response = await client.post("/admin/erasures", json={"subject": "u_bob"}, headers=admin)
    assert response.status == 202
    page = await client.get(f"/chat/threads/{thread['id']}/messages", headers=admin)
    contents = [m["content"] for m in (await page.json())["data"]]
    assert contents == [None, kept]
    erased = await client.get(f"/chat/threads/{bobs['id']}", headers=admin)
    assert ((await erased.json())["title"], (await erased.json())["metadata"]) == (None, {})
    dumped = await _table_bytes(postgres_url)
    assert words.encode() not in dumped and kept.encode() not in dumped


async def _heap_pages(url: str, table: str) -> bytes:
    """Return the table's heap pages as stored, dead tuples included (pageinspect)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        blocks = await conn.fetchval(
            "SELECT pg_relation_size($1::regclass) / current_setting('block_size')::int", table
        )
        pages = await conn.fetch(
            "SELECT get_raw_page($1::text, n) AS page FROM generate_series(0, $2::int - 1) n",
            table,
            blocks,
        )
    finally:
        await conn.close()
    return b"".join(bytes(row["page"]) for row in pages)


async def _status(client: Any, headers: dict[str, str], erasure_id: str) -> str:
    response = await client.get(f"/admin/erasures/{erasure_id}", headers=headers)
    assert response.status == 200, await response.text()
    status: str = (await response.json())["status"]
    return status


async def test_an_erasure_beside_an_older_snapshot_is_pending_until_the_old_tuple_is_gone(
    postgres_url: str, aiohttp_client: Any, master_key: str
) -> None:
    core = await build_core(store_url=postgres_url, master_key=base64.b64decode(master_key))
    client = await aiohttp_client(create_app(core))
    admin, bob = auth_headers("u_ada", "t_globex"), auth_headers("u_bob", "t_globex")
    thread = await create_thread(client, admin)
    await post_message(client, bob, thread["id"], "bob's words")
    reader = await asyncpg.connect(postgres_url)
    wrapped = await reader.fetchval("SELECT wrapped FROM data_keys WHERE subject = 'u_bob'")
    snapshot = reader.transaction(isolation="repeatable_read")
    await snapshot.start()
    await reader.fetchval("SELECT count(*) FROM events")  # a snapshot, held (a long export)
    try:
        response = await client.post("/admin/erasures", json={"subject": "u_bob"}, headers=admin)
        erasure = await response.json()
        assert (response.status, erasure["status"]) == (202, "pending")
        assert wrapped in await _heap_pages(postgres_url, "data_keys")
        await post_message(client, admin, thread["id"], "meanwhile")
        assert await _status(client, admin, erasure["erasure_id"]) == "pending"
    finally:
        await snapshot.rollback()
        await reader.close()
    deadline = asyncio.get_running_loop().time() + 60
    while await _status(client, admin, erasure["erasure_id"]) == "pending":
        assert asyncio.get_running_loop().time() < deadline, "the erasure never completed"
        await asyncio.sleep(0.05)
    assert wrapped not in await _heap_pages(postgres_url, "data_keys")
