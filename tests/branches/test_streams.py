"""Branches and ratings over the WebSocket: live, then the same again on a resubscription.

Siblings arrive as posts naming their parent, a rating and its withdrawal as
`chat.message.rated` events, each a version of the thread's stream like any other.
"""

from __future__ import annotations

from typing import Any

from tests.branches.helpers import AGENT, MEMBER, Client, post
from tests.http.helpers import create_thread
from tests.streams.helpers import ws_reply


async def _events(socket: Any, count: int) -> list[dict[str, Any]]:
    events = []
    for _ in range(count):
        frame = await ws_reply(socket, op="event")
        events.append(frame["event"])
    return events


def _shown(event: dict[str, Any]) -> tuple[Any, ...]:
    data = event["data"]
    if event["type"] == "chat.message.rated":
        return (event["version"], "rated", data["message_id"], data["rating"], data["by"])
    return (event["version"], data["message_id"], data["parent_id"], data["content"])


async def test_siblings_and_ratings_stream_over_the_websocket(client: Client) -> None:
    thread = (await create_thread(client, MEMBER))["id"]
    async with client.ws_connect("/chat/ws", headers=MEMBER) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread, "after": 1})
        assert (await ws_reply(socket))["op"] == "ack"
        question = await post(client, thread, "question")
        answer = await post(client, thread, "answer", role="assistant")
        again = await post(client, thread, "again", role="assistant", parent_id=question["id"])
        route = f"/chat/threads/{thread}/messages/{again['id']}/feedback"
        assert (await client.put(route, json={"rating": -1}, headers=MEMBER)).status == 200
        assert (await client.delete(route, headers=MEMBER)).status == 204
        live = await _events(socket, 5)
    expected = [
        (2, question["id"], None, "question"),
        (3, answer["id"], question["id"], "answer"),
        (4, again["id"], question["id"], "again"),
        (5, "rated", again["id"], -1, "u_member"),
        (6, "rated", again["id"], None, "u_member"),
    ]
    assert [_shown(event) for event in live] == expected
    async with client.ws_connect("/chat/ws", headers=AGENT) as socket:
        await socket.send_json({"op": "subscribe", "id": 2, "thread_id": thread, "after": 3})
        assert (await ws_reply(socket))["op"] == "ack"
        resumed = await _events(socket, 3)
    assert [_shown(event) for event in resumed] == expected[2:]
