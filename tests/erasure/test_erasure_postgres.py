"""On PostgreSQL too: after an erasure, the subject's words are in no table."""

from __future__ import annotations

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
    response = await client.post("/admin/erasures", json={"subject": "u_bob"}, headers=admin)
    assert response.status == 202
    page = await client.get(f"/chat/threads/{thread['id']}/messages", headers=admin)
    contents = [m["content"] for m in (await page.json())["data"]]
    assert contents == [None, kept]
    dumped = await _table_bytes(postgres_url)
    assert words.encode() not in dumped and kept.encode() not in dumped
