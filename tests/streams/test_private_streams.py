"""Streams of a private thread: its people follow it, with updates; outsiders get 404."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, create_thread, post_message, problem_of, token
from tests.openapi.test_served import _check_component
from tests.streams.helpers import read_sse, ticket_for, ws_reply
from transports.http.app_keys import CORE

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


async def _remove_bob(client: Client, thread_id: str) -> None:
    response = await client.patch(
        f"/chat/threads/{thread_id}", json={"participants": []}, headers=ADA
    )
    assert response.status == 200


async def test_a_participant_removed_stops_getting_the_websocket_events(client: Client) -> None:
    thread_id = await _private(client)
    shared = await create_thread(client, ADA, title="for all")
    async with client.ws_connect("/chat/ws", headers=BOB) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread_id, "after": 2})
        assert (await ws_reply(socket))["op"] == "ack"
        await _remove_bob(client, thread_id)
        await post_message(client, ADA, thread_id, "now that bob is gone")
        # No event of the update that shut them out, nor of anything after it: the
        # subscription ends as for a thread that no longer exists to them.
        frame = await ws_reply(socket)
        assert frame == {
            "op": "error",
            "id": None,
            "status": 404,
            "detail": "no such thread in this tenant and env",
            "thread_id": thread_id,
        }
        _check_component("ServerFrame", frame)
        # The socket stays open, and the thread is unknown to it from now on.
        await socket.send_json({"op": "subscribe", "id": 2, "thread_id": shared["id"]})
        assert (await ws_reply(socket))["op"] == "ack"
        assert (await ws_reply(socket))["event"]["type"] == "chat.thread.created"
        await socket.send_json({"op": "subscribe", "id": 3, "thread_id": thread_id})
        refused = await ws_reply(socket)
        assert (refused["op"], refused["id"], refused["status"]) == ("error", 3, 404)
        await socket.send_json({"op": "unsubscribe", "id": 4, "thread_id": thread_id})
        assert (await ws_reply(socket))["status"] == 404


async def test_a_participant_removed_stops_getting_the_sse_events(client: Client) -> None:
    thread_id = await _private(client)
    async with client.get(
        f"/chat/threads/{thread_id}/events", headers={**BOB, "Last-Event-ID": "2"}
    ) as stream:
        assert stream.status == 200
        await _remove_bob(client, thread_id)
        await post_message(client, ADA, thread_id, "now that bob is gone")
        # The stream ends before the update that shut them out.
        assert await read_sse(stream, 2) == []
    again = await client.get(
        f"/chat/threads/{thread_id}/events", headers={**BOB, "Last-Event-ID": "2"}
    )
    await problem_of(again, 404)


async def test_a_participant_let_in_again_reads_the_whole_history(client: Client) -> None:
    thread_id = await _private(client)
    await _remove_bob(client, thread_id)
    response = await client.patch(
        f"/chat/threads/{thread_id}", json={"participants": ["u_bob"]}, headers=ADA
    )
    assert response.status == 200
    async with client.ws_connect("/chat/ws", headers=BOB) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread_id})
        assert (await ws_reply(socket))["op"] == "ack"
        events = [(await ws_reply(socket, op="event"))["event"] for _ in range(4)]
    assert [event["data"].get("participants") for event in events[1:]] == [
        ["u_bob"],
        [],
        ["u_bob"],
    ]
    async with client.get(f"/chat/threads/{thread_id}/events", headers=BOB) as stream:
        assert [event.id for event in await read_sse(stream, 4)] == ["1", "2", "3", "4"]


async def test_a_ticket_issued_to_a_participant_since_removed_is_refused(client: Client) -> None:
    thread_id = await _private(client)
    ticket = await ticket_for(client, BOB, thread_id)
    await _remove_bob(client, thread_id)
    response = await client.get(f"/chat/threads/{thread_id}/events?ticket={ticket}")
    await problem_of(response, 404)


async def test_every_websocket_op_answers_an_outsider_as_for_an_unknown_thread(
    client: Client,
) -> None:
    thread_id = await _private(client)
    agent = auth_headers("svc", bearer=token("svc", {"t_acme": ["agent"]}))
    started = await client.post(
        f"/chat/threads/{thread_id}/messages",
        json={"role": "assistant", "status": "in_progress", "content": "thinking"},
        headers=agent,
    )
    assert started.status == 201, await started.text()
    message_id = (await started.json())["id"]
    store = client.app[CORE].store
    head = await store.head_position()
    for outsider in (CYD, auth_headers("u_dan", bearer=token("u_dan", {"t_acme": ["member"]}))):
        async with client.ws_connect("/chat/ws", headers=outsider) as socket:
            frames = [
                {"op": "subscribe", "after": 0},
                {"op": "post", "content": "let me in"},
                {"op": "post", "content": "again", "idempotency_key": "k1"},
                {"op": "chunk", "message_id": message_id, "index": 0, "content": "more"},
                {"op": "complete", "message_id": message_id},
                {"op": "cancel", "message_id": message_id},
                {"op": "unsubscribe"},
            ]
            for number, frame in enumerate(frames):
                replies = []
                for target in (thread_id, UNKNOWN):
                    await socket.send_json({**frame, "thread_id": target, "id": number})
                    replies.append(await ws_reply(socket))
                assert replies[0] == replies[1], (frame, replies)
                assert replies[0]["op"] == "error" and replies[0]["status"] in (403, 404)
    assert await store.head_position() == head
