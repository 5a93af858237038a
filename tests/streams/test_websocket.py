"""WebSocket: frames and replies, auth and tenant close codes, expiry, malformed frames."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, create_thread, post_message, token
from tests.streams.helpers import ticket_for, ws_reply
from transports.http.app_keys import CORE

Client = TestClient[Any, Any]


async def _close_code(socket: Any) -> int | None:
    async with asyncio.timeout(5):
        message = await socket.receive()
        while message.type == WSMsgType.TEXT:
            message = await socket.receive()
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), message
    code: int | None = socket.close_code
    return code


async def test_subscribe_gets_stored_then_live_events(client: Client) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers)
    await post_message(client, headers, thread["id"], "one")
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread["id"], "after": 1})
        ack = await ws_reply(socket)
        assert ack == {"op": "ack", "id": 1, "thread_id": thread["id"], "after": 1}
        first = await ws_reply(socket, op="event")
        assert first["thread_id"] == thread["id"] and first["event"]["version"] == 2
        await post_message(client, headers, thread["id"], "two")
        second = await ws_reply(socket, op="event")
        assert second["event"]["data"]["content"] == "two"


async def test_post_acks_with_the_message_and_replays_by_key(client: Client) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers)
    frame = {"op": "post", "thread_id": thread["id"], "content": "hi", "idempotency_key": "k1"}
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        await socket.send_json({**frame, "id": "a"})
        ack = await ws_reply(socket)
        assert ack["op"] == "ack" and ack["id"] == "a"
        assert ack["message"]["content"] == "hi" and ack["message"]["seq"] == 1
        await socket.send_json({**frame, "id": "b"})
        again = await ws_reply(socket)
        assert again["message"] == ack["message"] and again["replayed"] is True
        await socket.send_json({**frame, "content": "other", "id": "c"})
        assert (await ws_reply(socket))["status"] == 422


async def test_a_post_retried_over_the_other_transport_replays_its_first_answer(
    client: Client,
) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers)
    path = f"/chat/threads/{thread['id']}/messages"
    body = {"content": "hi", "metadata": {"b": "2", "a": "1"}}
    store = client.app[CORE].store
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        # Over the socket first, then over HTTP with the same key, fields in another order.
        await socket.send_json(
            {
                "op": "post",
                "id": 1,
                "thread_id": thread["id"],
                **body,
                "idempotency_key": "ws-first",
            }
        )
        ack = await ws_reply(socket)
        head = await store.head_position()
        again = await client.post(
            path,
            data=b'{ "metadata": {"a": "1", "b": "2"}, "content": "hi" }',
            headers={**headers, "Idempotency-Key": "ws-first", "Content-Type": "application/json"},
        )
        assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert await again.json() == ack["message"]
        # Over HTTP first, then over the socket with the same key.
        first = await client.post(path, json=body, headers={**headers, "Idempotency-Key": "h1"})
        assert first.status == 201
        head = await store.head_position()
        await socket.send_json(
            {"op": "post", "id": 2, "thread_id": thread["id"], **body, "idempotency_key": "h1"}
        )
        replayed = await ws_reply(socket)
        assert replayed["replayed"] is True and replayed["message"] == await first.json()
        assert await store.head_position() == head
        # Another request under a used key is still refused, whichever transport carries it.
        await socket.send_json(
            {
                "op": "post",
                "id": 3,
                "thread_id": thread["id"],
                "content": "other",
                "idempotency_key": "h1",
            }
        )
        assert (await ws_reply(socket))["status"] == 422


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("not json", 400),
        ("[1, 2]", 400),
        ('{"op": "dance", "id": 3}', 400),
        ('{"op": "subscribe", "id": 3}', 422),
        ('{"op": "subscribe", "id": 3, "thread_id": "th_x", "after": -1}', 422),
        ('{"op": "post", "id": 3, "thread_id": "th_x"}', 422),
        ('{"op": "unsubscribe", "id": 3, "thread_id": "th_x"}', 404),
        ('{"op": "subscribe", "id": 3, "thread_id": "th_nope"}', 404),
        ('{"op": "post", "id": 3, "thread_id": "th_nope", "content": "x"}', 404),
        ('{"op": "subscribe", "id": [1], "thread_id": "th_x"}', 400),
    ],
)
async def test_malformed_frames_get_an_error_and_the_socket_stays_open(
    client: Client, raw: str, status: int
) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers)
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        await socket.send_str(raw)
        error = await ws_reply(socket)
        assert error["op"] == "error" and error["status"] == status, error
        await socket.send_bytes(b"\x00")
        assert (await ws_reply(socket))["status"] == 400
        await socket.send_json({"op": "subscribe", "id": 9, "thread_id": thread["id"]})
        assert (await ws_reply(socket))["op"] == "ack"


async def test_another_tenants_thread_is_404_and_the_socket_stays_open(client: Client) -> None:
    thread = await create_thread(client, auth_headers())
    async with client.ws_connect("/chat/ws", headers=auth_headers(tenant="t_globex")) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread["id"]})
        assert (await ws_reply(socket))["status"] == 404
        await socket.send_json({"op": "post", "id": 2, "thread_id": thread["id"], "content": "x"})
        assert (await ws_reply(socket))["status"] == 404
        assert not socket.closed


async def test_unsubscribe_stops_events(client: Client) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers)
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread["id"]})
        await ws_reply(socket, op="event")
        await socket.send_json({"op": "unsubscribe", "id": 2, "thread_id": thread["id"]})
        assert (await ws_reply(socket))["op"] == "ack"
        await post_message(client, headers, thread["id"], "unseen")
        with pytest.raises(TimeoutError):
            await ws_reply(socket, op="event", within=0.3)


@pytest.mark.parametrize("bearer", ["garbage", None])
async def test_a_bad_or_missing_token_closes_4401(client: Client, bearer: str | None) -> None:
    headers = auth_headers(bearer=bearer or "x")
    if bearer is None:
        del headers["Authorization"]
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        assert await _close_code(socket) == 4401


async def test_a_used_ticket_closes_4401(client: Client) -> None:
    ticket = await ticket_for(client, auth_headers())
    async with client.ws_connect("/chat/ws", params={"ticket": ticket}) as socket:
        await socket.send_json({"op": "unsubscribe", "id": 1, "thread_id": "th_x"})
        assert (await ws_reply(socket))["status"] == 404
    async with client.ws_connect("/chat/ws", params={"ticket": ticket}) as socket:
        assert await _close_code(socket) == 4401


async def test_a_tenant_the_caller_is_not_in_closes_4403(client: Client) -> None:
    async with client.ws_connect("/chat/ws", headers=auth_headers("u_eve", "t_acme")) as socket:
        assert await _close_code(socket) == 4403


async def test_a_ticket_bound_to_another_thread_closes_4403(client: Client) -> None:
    headers = auth_headers()
    first = await create_thread(client, headers)
    second = await create_thread(client, headers)
    ticket = await ticket_for(client, headers, first["id"])
    async with client.ws_connect("/chat/ws", params={"ticket": ticket}) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": first["id"]})
        assert (await ws_reply(socket))["op"] == "ack"
        await socket.send_json({"op": "subscribe", "id": 2, "thread_id": second["id"]})
        assert await _close_code(socket) == 4403


async def test_the_socket_closes_4401_when_the_token_expires(client: Client) -> None:
    headers = auth_headers(bearer=token(ttl=1))
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        assert await _close_code(socket) == 4401


async def test_a_plain_get_without_upgrade_is_an_http_error(client: Client) -> None:
    response = await client.get("/chat/ws", headers=auth_headers())
    assert response.status == 400
