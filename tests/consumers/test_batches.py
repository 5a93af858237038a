"""A batch read from SQLite rows is the batch the decoded events give, withdrawals included."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from chat_core.batches import PrivateThreads, read_batch, show_events, stream_event
from events.envelope import Env
from events.store.base import EventFilter
from tests.consumers.conftest import serve
from tests.consumers.test_consumers import ADMIN, MEMBER
from tests.http.helpers import create_thread, post_message
from transports.http.app_keys import CORE


async def _log(client: TestClient[Any, Any]) -> None:
    thread = await create_thread(client, ADMIN, title="batch")
    hidden = await create_thread(client, MEMBER, title="hidden", visibility="private")
    await post_message(client, MEMBER, hidden["id"], "private words")
    await post_message(client, ADMIN, thread["id"], "kept")
    gone = await post_message(client, ADMIN, thread["id"], "redacted")
    await post_message(client, MEMBER, thread["id"], "erased")
    await client.delete(f"/chat/threads/{thread['id']}/messages/{gone['id']}", headers=ADMIN)
    await client.post("/admin/erasures", json={"subject": "u_ada"}, headers=ADMIN)
    put = {"default": 0.5, "min": 0.0, "max": 1.0, "overrides": {}}
    await client.put("/temperature/config", json=put, headers=ADMIN)


async def test_rows_and_decoded_events_give_the_same_batch(
    aiohttp_client: Any, sqlite_url: str
) -> None:
    client = await serve(aiohttp_client, sqlite_url)
    await _log(client)
    core = client.app[CORE]
    wanted = EventFilter(tenants={"t_acme"}, envs={Env.DEV})
    for after, limit in ((0, 1000), (0, 3), (2, 4)):
        private = PrivateThreads(core.store)
        from_rows, last = await read_batch(
            core.store, core.keys, core.codec, wanted, private, after_position=after, limit=limit
        )
        events = [
            item
            async for item in core.store.read_all(
                after_position=after, event_filter=wanted, limit=limit
            )
        ]
        decoded = [
            stream_event(item, data)
            for item, data in await show_events(
                core.store, core.keys, core.codec, events, PrivateThreads(core.store)
            )
        ]
        assert from_rows == decoded
        assert last == events[-1].position
    contents = [e["data"].get("content") for e in from_rows if e["type"] == "chat.message.posted"]
    assert len(from_rows) > 0 and None in contents
    # The private thread's events are withheld from both, its position passed all the same.
    assert "private words" not in contents and "hidden" not in str(from_rows)
