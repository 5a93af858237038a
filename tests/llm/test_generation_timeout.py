"""The generation time-out: a reply silent past CHAT_CORE_GENERATION_TIMEOUT fails, once.

Real servers on a real store with a short time-out; the failed event carries the message's
tenant and env, a request id of its own and the actor chat-core, and two instances that
both see the silence fail it once between them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from chat_core.bootstrap import bootstrap
from chat_core.generation_timeout import in_progress_before
from chat_core.settings import GENERATION_TIMEOUT, load_settings
from events.store.memory import MemoryEventStore
from events.store.sqlite_rows import RowDecoder
from events.tooling.export import RowSource
from tests.http.helpers import (
    all_events,
    auth_headers,
    create_thread,
    post_message,
    settings,
    token,
)
from transports.http.app import create_app
from transports.http.app_keys import CORE

MEMBER = auth_headers("u_member", bearer=token("u_member", {"t_acme": ["member"]}))
AGENT = auth_headers("u_agent", bearer=token("u_agent", {"t_acme": ["agent"]}))


async def _client(aiohttp_client: Any, store: MemoryEventStore, silence: float) -> Any:
    core = await bootstrap(settings=settings(generation_timeout=silence), store=store)
    return await aiohttp_client(create_app(core))


async def _start(client: Any, thread_id: str) -> dict[str, Any]:
    response = await client.post(
        f"/chat/threads/{thread_id}/messages",
        json={"role": "assistant", "status": "in_progress"},
        headers=AGENT,
    )
    assert response.status == 201, await response.text()
    message: dict[str, Any] = await response.json()
    return message


async def _status(client: Any, message: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(f"/chat/threads/{message['thread_id']}/messages", headers=MEMBER)
    found: dict[str, Any] = next(
        m for m in (await response.json())["data"] if m["id"] == message["id"]
    )
    return found


async def _until_failed(client: Any, message: dict[str, Any]) -> dict[str, Any]:
    for _ in range(200):
        read = await _status(client, message)
        if read["status"] != "in_progress":
            return read
        await asyncio.sleep(0.05)
    raise AssertionError("the generation never timed out")


def test_the_time_out_is_five_minutes_unless_set() -> None:
    assert load_settings({}).generation_timeout == GENERATION_TIMEOUT == 300.0
    assert load_settings({"CHAT_CORE_GENERATION_TIMEOUT": "12.5"}).generation_timeout == 12.5


async def test_a_silent_reply_fails_as_timed_out_under_the_server_s_own_name(
    aiohttp_client: Any,
) -> None:
    store = MemoryEventStore()
    client = await _client(aiohttp_client, store, 0.3)
    thread = await create_thread(client, MEMBER)
    message = await _start(client, thread["id"])
    chunk = {"index": 0, "content": "half"}
    path = f"/chat/threads/{thread['id']}/messages/{message['id']}/chunks"
    assert (await client.post(path, json=chunk, headers=AGENT)).status == 200
    read = await _until_failed(client, message)
    assert (read["status"], read["error"], read["content"]) == ("failed", "timed out", "half")
    events = await all_events(client.app[CORE].store)
    failed = [item.event for item in events if item.event.type == "chat.message.failed"]
    assert len(failed) == 1
    (event,) = failed
    assert (event.tenant, event.env.value, event.actor) == ("t_acme", "dev", "chat-core")
    others = {item.event.request_id for item in events if item.event is not event}
    assert event.request_id not in others and event.request_id.strip()


async def test_a_reply_that_keeps_moving_does_not_time_out(aiohttp_client: Any) -> None:
    client = await _client(aiohttp_client, MemoryEventStore(), 1.0)
    thread = await create_thread(client, MEMBER)
    message = await _start(client, thread["id"])
    path = f"/chat/threads/{thread['id']}/messages/{message['id']}/chunks"
    for index in range(12):
        response = await client.post(path, json={"index": index, "content": "x"}, headers=AGENT)
        assert response.status == 200, await response.text()
        await asyncio.sleep(0.2)
    assert (await _status(client, message))["status"] == "in_progress"


async def test_two_instances_fail_a_silent_reply_once(aiohttp_client: Any) -> None:
    # Two cores on one store, as two servers on one database: each follows the log and
    # sweeps, and each may try to fail the reply; the log holds one failure.
    store = MemoryEventStore()
    first = await _client(aiohttp_client, store, 0.3)
    second = await _client(aiohttp_client, store, 0.3)
    thread = await create_thread(first, MEMBER)
    await _start(first, thread["id"])
    for _ in range(200):
        if await _failures(store):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # both sweepers had several turns
    assert len(await _failures(store)) == 1
    assert second.app[CORE].sweeper is not first.app[CORE].sweeper


async def _failures(store: MemoryEventStore) -> list[Any]:
    return [item for item in await all_events(store) if item.event.type == "chat.message.failed"]


async def test_a_reply_left_in_progress_by_a_restart_still_times_out(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    # The server went down mid-reply and its agent with it: the instance that comes up
    # knows the reply only from the log written before it started.
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    first = await bootstrap(settings=settings(store_url=url))
    client = await aiohttp_client(create_app(first))
    thread = await create_thread(client, MEMBER)
    message = await _start(client, thread["id"])
    await client.close()
    second = await bootstrap(settings=settings(store_url=url, generation_timeout=0.3))
    client = await aiohttp_client(create_app(second))
    read = await _until_failed(client, message)
    assert (read["status"], read["error"]) == ("failed", "timed out")
    failed = [
        item.event
        for item in await all_events(second.store)
        if item.event.type == "chat.message.failed"
    ]
    assert [(e.tenant, e.env.value, e.actor) for e in failed] == [("t_acme", "dev", "chat-core")]


async def test_the_boot_read_of_generations_gives_the_same_on_rows_and_events(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    # Plain posts, a reply ended, one silent, one still moving: the rows' fast path and
    # the decoded events leave the same generations in progress, and the fast path
    # decodes none of the plain posts.
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    core = await bootstrap(settings=settings(store_url=url))
    client = await aiohttp_client(create_app(core))
    thread = await create_thread(client, MEMBER)
    for n in range(5):
        await post_message(client, MEMBER, thread["id"], f"plain {n}")
    ended, silent, moving = [await _start(client, thread["id"]) for _ in range(3)]
    for message, step, body in (
        (ended, "chunks", {"index": 0, "content": "done"}),
        (ended, "complete", {}),
        (moving, "chunks", {"index": 0, "content": "more"}),
    ):
        path = f"/chat/threads/{thread['id']}/messages/{message['id']}/{step}"
        assert (await client.post(path, json=body, headers=AGENT)).status == 200
    store, head = core.store, await core.store.head_position()
    assert isinstance(store, RowSource)
    decoded: list[str] = []
    original = RowDecoder.decode

    def counting(self: RowDecoder, rows: Any) -> Any:
        found = original(self, rows)
        decoded.extend(item.event.type for item in found)
        return found

    RowDecoder.decode = counting  # type: ignore[method-assign]
    try:
        fast = await in_progress_before(store, head, core.codec)
    finally:
        RowDecoder.decode = original  # type: ignore[method-assign]
    slow = await in_progress_before(store, head, None)
    assert fast == slow
    assert set(fast) == {silent["id"], moving["id"]}
    assert fast[moving["id"]].active_at > fast[silent["id"]].active_at
    # Only the three starts and the chunks and end of replies found in progress.
    assert decoded.count("chat.message.posted") == 3
