"""Bounded buffers: a slow consumer is cut off and resumes; others and writers never wait.

Also: shutting the server down ends every stream cleanly.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from chat_core.payloads import MessagePosted
from events.envelope import DatasetEvent, Env
from tests.http.helpers import auth_headers, create_thread, post_message
from tests.streams.conftest import ClientFactory
from tests.streams.helpers import read_sse, ws_reply
from transports.http.app_keys import CORE, HUB

Client = TestClient[Any, Any]


async def _append_burst(client: Client, thread_id: str, count: int) -> None:
    """Append count messages in one batch, so the hub offers them all before anyone reads."""
    store = client.app[CORE].store
    stream = f"chat/t_acme/dev/{thread_id}"
    version = await store.stream_version(stream)
    now = datetime.now(UTC)
    events = [
        DatasetEvent(
            event_id=uuid.uuid4(),
            stream=stream,
            version=version + n,
            tenant="t_acme",
            env=Env.DEV,
            request_id="req-burst",
            trace_id="req-burst",
            actor="u_ada",
            occurred_at=now,
            payload=MessagePosted(
                thread_id=thread_id,
                message_id=f"msg_burst{version + n}",
                seq=version + n - 1,
                role="user",
                content=f"burst {n}",
            ),
        )
        for n in range(1, count + 1)
    ]
    await store.append(stream, events, version)


async def test_an_sse_client_past_its_buffer_is_cut_off_and_resumes_exactly_once(
    make_client: ClientFactory,
) -> None:
    client = await make_client(buffer=4)
    headers = auth_headers()
    thread = await create_thread(client, headers)
    path = f"/chat/threads/{thread['id']}/events"
    async with client.get(path, headers=headers) as response:
        seen = await read_sse(response, 1)
        await _append_burst(client, thread["id"], 10)
        seen += await read_sse(response, 100)
    assert len(seen) < 11, "the stream should have ended at the overflow"
    resume = {**headers, "Last-Event-ID": seen[-1].id}
    async with client.get(path, headers=resume) as response:
        seen += await read_sse(response, 11 - len(seen))
    assert [int(event.id) for event in seen] == list(range(1, 12))


async def test_a_websocket_past_its_buffer_is_closed_4408(make_client: ClientFactory) -> None:
    client = await make_client(buffer=4)
    headers = auth_headers()
    thread = await create_thread(client, headers)
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread["id"]})
        await ws_reply(socket, op="event")
        await _append_burst(client, thread["id"], 10)
        async with asyncio.timeout(5):
            while (await socket.receive()).type == WSMsgType.TEXT:
                pass
        assert socket.close_code == 4408


async def test_a_stalled_client_stalls_neither_others_nor_writers(
    make_client: ClientFactory,
) -> None:
    client = await make_client(buffer=8)
    headers = auth_headers()
    thread = await create_thread(client, headers)
    path = f"/chat/threads/{thread['id']}/events"
    hub = client.app[HUB]
    reader, writer = await asyncio.open_connection(client.host, client.port)
    lines = [f"GET {path} HTTP/1.1", f"Host: {client.host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    async with client.get(path, headers=headers) as healthy:
        await read_sse(healthy, 1)
        for _ in range(500):
            if hub.subscriber_count == 2:
                break
            await asyncio.sleep(0.01)
        total, content = 300, "x" * 30_000
        reading = asyncio.create_task(read_sse(healthy, total, within=30))
        started = time.monotonic()
        for n in range(total):
            await post_message(client, headers, thread["id"], f"{n}{content}")
        assert time.monotonic() - started < 30, "writers were held up"
        received = await reading
        assert [int(event.id) for event in received] == list(range(2, total + 2))
        assert hub.subscriber_count == 1, "the stalled client should have been cut off"
    writer.close()
    del reader


async def test_shutdown_ends_every_stream_cleanly(make_client: ClientFactory) -> None:
    client = await make_client()
    headers = auth_headers()
    thread = await create_thread(client, headers)
    response = await client.get(f"/chat/threads/{thread['id']}/events", headers=headers)
    await read_sse(response, 1)
    socket = await client.ws_connect("/chat/ws", headers=headers)
    await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread["id"]})
    await ws_reply(socket, op="event")
    closing = asyncio.create_task(socket.receive())
    started = time.monotonic()
    await client.server.close()
    assert time.monotonic() - started < 5
    assert await read_sse(response, 1) == []
    assert await response.content.read() == b""
    assert (await closing).type == WSMsgType.CLOSE
    assert socket.close_code == 1001
    assert client.app[HUB].subscriber_count == 0
