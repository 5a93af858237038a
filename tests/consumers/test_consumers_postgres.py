"""Two servers on one PostgreSQL database share every consumer and its checkpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.consumers.conftest import serve
from tests.consumers.test_consumers import ADMIN, _ack, _conversation, _create, _read
from tests.http.helpers import post_message

pytestmark = pytest.mark.postgres


async def test_a_consumer_made_and_acked_on_one_server_reads_on_in_step_on_the_other(
    aiohttp_client: Any, postgres_url: str
) -> None:
    one = await serve(aiohttp_client, postgres_url)
    other = await serve(aiohttp_client, postgres_url)
    await _conversation(one, "a", "b", "c")
    await _create(one, "index", types=["chat.message.posted"])
    response = await other.post("/admin/consumers", json={"name": "index"}, headers=ADMIN)
    assert response.status == 409
    first = await _read(other, "index", "?limit=2")
    assert [e["data"]["content"] for e in first["data"]] == ["a", "b"]
    await _ack(one, "index", first["next_position"])
    await _ack(other, "index", 1)  # a lower ack from the other server leaves it
    shown = await (await other.get("/admin/consumers/index", headers=ADMIN)).json()
    assert (shown["position"], shown["lag"]) == (first["next_position"], 1)
    rest = await _read(other, "index")
    assert [e["data"]["content"] for e in rest["data"]] == ["c"]


async def test_a_read_waiting_on_one_server_wakes_for_a_post_through_the_other(
    aiohttp_client: Any, postgres_url: str
) -> None:
    one = await serve(aiohttp_client, postgres_url)
    other = await serve(aiohttp_client, postgres_url)
    thread_id = await _conversation(one)
    await _create(one, "live", start="end")
    waiting = asyncio.create_task(_read(other, "live", "?wait=20"))
    await asyncio.sleep(0.2)
    await post_message(one, ADMIN, thread_id, "hello")
    batch = await asyncio.wait_for(waiting, 15)
    assert [e["data"]["content"] for e in batch["data"]] == ["hello"]


async def test_a_checkpoint_survives_every_server_going(
    aiohttp_client: Any, postgres_url: str
) -> None:
    one = await serve(aiohttp_client, postgres_url)
    await _conversation(one, "a")
    await _create(one, "index")
    acked = await _ack(one, "index", (await _read(one, "index"))["next_position"])
    await one.close()
    again = await serve(aiohttp_client, postgres_url)
    shown = await (await again.get("/admin/consumers/index", headers=ADMIN)).json()
    assert (shown["position"], shown["lag"]) == (acked["position"], 0)
