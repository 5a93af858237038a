"""Streams of a private thread: its people follow it, with updates; outsiders get 404."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, create_thread, post_message, problem_of, token
from tests.streams.helpers import read_sse, ticket_for, ws_reply

Client = TestClient[Any, Any]

ADA = auth_headers("u_ada")
BOB = auth_headers("u_bob")
CYD = auth_headers("u_cyd")  # an admin of t_acme, outside the thread
UNKNOWN = "th_nosuchthreadhere0000"


async def _private(client: Client) -> str:
    thread = await create_thread(client, ADA, title="hidden", visibility="private")
    response = await client.patch(
        f"/chat/threads/{thread['id']}", json={"participants": ["u_bob"]}, headers=ADA
    )
    assert response.status == 200
    thread_id: str = thread["id"]
    return thread_id


async def test_an_outsiders_websocket_frames_answer_as_for_an_unknown_thread(
    client: Client,
) -> None:
    thread_id = await _private(client)
    async with client.ws_connect("/chat/ws", headers=CYD) as socket:
        replies = []
        for target in (thread_id, UNKNOWN):
            for frame in (
                {"op": "subscribe", "thread_id": target},
                {"op": "post", "thread_id": target, "content": "let me in"},
            ):
                await socket.send_json({**frame, "id": 1})
                reply = await ws_reply(socket)
                assert reply["op"] == "error" and reply["status"] == 404
                replies.append(reply)
        assert replies[:2] == replies[2:]


async def test_a_participant_follows_a_private_thread_and_its_updates(client: Client) -> None:
    thread_id = await _private(client)
    async with client.ws_connect("/chat/ws", headers=BOB) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread_id, "after": 2})
        assert (await ws_reply(socket))["op"] == "ack"
        response = await client.patch(
            f"/chat/threads/{thread_id}",
            json={"title": "renamed", "archived": True},
            headers=ADA,
        )
        assert response.status == 200
        frame = await ws_reply(socket, op="event")
    event = frame["event"]
    assert event["type"] == "chat.thread.updated"
    assert event["data"] == {
        "thread_id": thread_id,
        "title": "renamed",
        "metadata": None,
        "archived": True,
        "participants": None,
        "erased": False,
    }


async def test_sse_of_a_private_thread_by_ticket_for_its_people_only(client: Client) -> None:
    thread_id = await _private(client)
    await post_message(client, ADA, thread_id, "hello bob")
    response = await client.post("/chat/stream-tickets", json={"thread_id": thread_id}, headers=CYD)
    await problem_of(response, 404)
    response = await client.get(f"/chat/threads/{thread_id}/events", headers=CYD)
    await problem_of(response, 404)
    ticket = await ticket_for(client, BOB, thread_id)
    async with client.get(f"/chat/threads/{thread_id}/events?ticket={ticket}") as stream:
        assert stream.status == 200
        events = await read_sse(stream, 3)
    assert [event.type for event in events] == [
        "chat.thread.created",
        "chat.thread.updated",
        "chat.message.posted",
    ]
    assert events[0].data["data"]["visibility"] == "private"
    assert events[1].data["data"]["participants"] == ["u_bob"]


async def test_an_agent_follows_every_private_thread(client: Client) -> None:
    thread_id = await _private(client)
    agent = auth_headers("svc", bearer=token("svc", {"t_acme": ["agent"]}))
    async with client.ws_connect("/chat/ws", headers=agent) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread_id})
        assert (await ws_reply(socket))["op"] == "ack"
        assert (await ws_reply(socket, op="event"))["event"]["type"] == "chat.thread.created"
