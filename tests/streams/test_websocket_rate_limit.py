"""WebSocket frames that do work spend the tenant's request budget, as HTTP requests do."""

from __future__ import annotations

from typing import Any

import attrs
from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, build_core, create_thread, problem_of
from tests.streams.helpers import ws_reply
from transports.http.app import create_app
from transports.http.app_keys import CORE
from transports.http.stream_settings import StreamSettings

Client = TestClient[Any, Any]
# A bucket that refills too slowly to matter while a test runs.
RATE = 0.001


async def _limited(aiohttp_client: Any, burst: int) -> Client:
    core = await build_core()
    limited = attrs.evolve(core, settings=attrs.evolve(core.settings, rate_limit=(RATE, burst)))
    client: Client = await aiohttp_client(create_app(limited, streams=StreamSettings()))
    return client


async def _reply(socket: Any) -> dict[str, Any]:
    """Return the next reply to a frame, skipping the events of a subscription."""
    while True:
        frame = await ws_reply(socket)
        if frame["op"] != "event":
            return frame


async def test_post_frames_past_the_budget_are_refused_with_429_and_the_wait(
    aiohttp_client: Any,
) -> None:
    # The budget: creating the thread, opening the socket, then two posts; the rest refused.
    client = await _limited(aiohttp_client, burst=4)
    headers = auth_headers()
    thread = await create_thread(client, headers)
    store = client.app[CORE].store
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        replies = []
        for number in range(6):
            frame = {"op": "post", "id": number, "thread_id": thread["id"], "content": "hi"}
            await socket.send_json(frame)
            replies.append(await ws_reply(socket))
        assert [reply["op"] for reply in replies] == ["ack", "ack"] + ["error"] * 4
        for number, refused in enumerate(replies[2:], 2):
            assert refused["id"] == number
            assert refused["status"] == 429
            assert "t_acme" in refused["detail"]
            assert isinstance(refused["retry_after"], int) and refused["retry_after"] >= 1
        # The socket stays open and answers frames that spend nothing.
        await socket.send_json({"op": "unsubscribe", "id": "u", "thread_id": thread["id"]})
        assert (await ws_reply(socket))["status"] == 404
        assert not socket.closed
    assert await store.head_position() == 3  # the thread and two messages


async def test_subscribe_frames_spend_the_budget_too(aiohttp_client: Any) -> None:
    client = await _limited(aiohttp_client, burst=3)
    headers = auth_headers()
    thread = await create_thread(client, headers)
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread["id"]})
        assert (await _reply(socket))["op"] == "ack"
        await socket.send_json({"op": "unsubscribe", "id": 2, "thread_id": thread["id"]})
        assert (await _reply(socket))["op"] == "ack"
        await socket.send_json({"op": "subscribe", "id": 3, "thread_id": thread["id"]})
        refused = await _reply(socket)
        assert (refused["op"], refused["status"]) == ("error", 429)


async def test_frames_and_requests_share_one_budget(aiohttp_client: Any) -> None:
    client = await _limited(aiohttp_client, burst=3)
    headers = auth_headers()
    thread = await create_thread(client, headers)
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        await socket.send_json({"op": "post", "thread_id": thread["id"], "content": "hi"})
        assert (await ws_reply(socket))["op"] == "ack"
    path = f"/chat/threads/{thread['id']}/messages"
    refused = await client.post(path, json={"content": "over"}, headers=headers)
    await problem_of(refused, 429)
    # Another tenant's budget is its own.
    other = auth_headers("u_ada", "t_globex")
    assert (await client.post("/chat/threads", json={}, headers=other)).status == 201
