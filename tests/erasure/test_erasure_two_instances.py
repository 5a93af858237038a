"""Two servers on one database: an erasure through one, and what follows it through the other."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from events.crypto import MasterKey, new_data_key
from events.keys import KeyRing, MemoryKeyStore
from tests.http.helpers import auth_headers, build_core, create_thread, post_message
from transports.http.app import create_app

Client = TestClient[Any, Any]
TENANT = "t_globex"
ADMIN = auth_headers("u_ada", "t_globex")  # admin of t_globex
BOB = auth_headers("u_bob", "t_globex")  # member of t_globex


async def _server(aiohttp_client: Any, url: str, master_key: str) -> Client:
    core = await build_core(store_url=url, master_key=base64.b64decode(master_key))
    client: Client = await aiohttp_client(create_app(core))
    return client


async def _shown(client: Client, thread_id: str) -> list[tuple[Any, bool]]:
    response = await client.get(f"/chat/threads/{thread_id}/messages", headers=ADMIN)
    assert response.status == 200
    return [(m["content"], m["erased"]) for m in (await response.json())["data"]]


@pytest.mark.postgres
async def test_words_posted_through_another_server_after_an_erasure_read_on_the_eraser(
    postgres_url: str, aiohttp_client: Any, master_key: str
) -> None:
    eraser = await _server(aiohttp_client, postgres_url, master_key)
    other = await _server(aiohttp_client, postgres_url, master_key)
    thread = await create_thread(eraser, ADMIN)
    await post_message(eraser, BOB, thread["id"], "before")  # the eraser holds bob's key
    response = await eraser.post("/admin/erasures", json={"subject": "u_bob"}, headers=ADMIN)
    assert response.status == 202
    # The other server finds bob's keys destroyed and makes him a new one.
    await post_message(other, BOB, thread["id"], "after")
    assert await _shown(other, thread["id"]) == [(None, True), ("after", False)]
    assert await _shown(eraser, thread["id"]) == [(None, True), ("after", False)]


async def test_a_ring_fetches_a_key_it_does_not_know_when_a_value_names_it() -> None:
    store, master = MemoryKeyStore(), MasterKey(new_data_key())
    eraser, other = KeyRing(store, master), KeyRing(store, master)
    await eraser.writing_key(TENANT, "u_bob")
    await eraser.destroy(TENANT, "u_bob")
    key = await other.writing_key(TENANT, "u_bob")  # made after the erasure: key 2
    sealed = other.seal(key, b"words", b"aad")
    await eraser.prefetch({(TENANT, "u_bob"): key.key_id})
    assert eraser.open(TENANT, "u_bob", sealed, b"aad") == b"words"
