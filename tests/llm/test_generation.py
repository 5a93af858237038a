"""A generation over a real server: start, chunks, complete, cancel and fail, as the contract says.

Each refusal is a problem+json with the contract's status that appends nothing; reads and
the SSE stream show the text so far; a reconnect mid-reply gets every later chunk once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, create_thread, expect_refusal, token
from tests.streams.helpers import read_sse, ws_reply
from transports.http.app_keys import CORE

Client = TestClient[Any, Any]


def _headers(who: str, role: str | None = None) -> dict[str, str]:
    return auth_headers(f"u_{who}", bearer=token(f"u_{who}", {"t_acme": [role or who]}))


MEMBER, AGENT, ADMIN = _headers("member"), _headers("agent"), _headers("admin")
OTHER_AGENT = _headers("bot", "agent")


async def _start(client: Client, thread_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"/chat/threads/{thread_id}/messages",
        json={"role": "assistant", "status": "in_progress", "model": "m", **body},
        headers=AGENT,
    )
    assert response.status == 201, await response.text()
    message: dict[str, Any] = await response.json()
    return message


def _path(message: dict[str, Any], step: str) -> str:
    return f"/chat/threads/{message['thread_id']}/messages/{message['id']}/{step}"


async def _step(
    client: Client,
    message: dict[str, Any],
    step: str,
    body: dict[str, Any],
    headers: dict[str, str] = AGENT,
) -> Any:
    response = await client.post(_path(message, step), json=body, headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def _read(client: Client, message: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(f"/chat/threads/{message['thread_id']}/messages", headers=MEMBER)
    assert response.status == 200
    found: dict[str, Any] = next(
        m for m in (await response.json())["data"] if m["id"] == message["id"]
    )
    return found


async def test_a_reply_grows_chunk_by_chunk_then_completes(client: Client) -> None:
    thread = await create_thread(client, MEMBER)
    message = await _start(client, thread["id"])
    answers = [
        await _step(client, message, "chunks", {"index": i, "content": text})
        for i, text in enumerate(["Hel", "lo, ", "world"])
    ]
    assert answers == [
        {"message_id": message["id"], "index": 0, "length": 3},
        {"message_id": message["id"], "index": 1, "length": 7},
        {"message_id": message["id"], "index": 2, "length": 12},
    ]
    growing = await _read(client, message)
    assert (growing["status"], growing["content"]) == ("in_progress", "Hello, world")
    usage = {"input_tokens": 5, "output_tokens": 3}
    done = await _step(client, message, "complete", {"finish_reason": "stop", "usage": usage})
    assert (done["status"], done["content"], done["finish_reason"]) == (
        "complete",
        "Hello, world",
        "stop",
    )
    assert done["usage"] == usage and done["temperature"] == 1.0
    assert await _read(client, message) == done
    # Again: the same answer, nothing appended.
    head = await client.app[CORE].store.head_position()
    assert await _step(client, message, "complete", {}) == done
    assert await client.app[CORE].store.head_position() == head


async def test_a_chunk_repeated_appends_nothing_and_a_clash_says_the_next_index(
    client: Client,
) -> None:
    thread = await create_thread(client, MEMBER)
    message = await _start(client, thread["id"])
    await _step(client, message, "chunks", {"index": 0, "content": "a"})
    await _step(client, message, "chunks", {"index": 1, "content": "b"})
    store = client.app[CORE].store
    head = await store.head_position()
    assert await _step(client, message, "chunks", {"index": 0, "content": "a"}) == {
        "message_id": message["id"],
        "index": 0,
        "length": 2,
    }
    assert await store.head_position() == head
    for body in ({"index": 0, "content": "other"}, {"index": 5, "content": "c"}):
        _, problem = await expect_refusal(
            client, "POST", _path(message, "chunks"), 409, headers=AGENT, json=body
        )
        assert problem["expected_index"] == 2
    assert (await _read(client, message))["content"] == "ab"


async def test_a_chunk_sent_twice_at_once_is_appended_once_and_both_are_answered(
    client: Client,
) -> None:
    # A retry that overtakes its first try: both reach the thread's writer before either
    # chunk is folded, so the second is decided against the first still queued.
    thread = await create_thread(client, MEMBER)
    store = client.app[CORE].store
    # Three connections open first, so that the three sends below arrive together.
    await asyncio.gather(*(_read_thread(client, thread["id"]) for _ in range(3)))
    for _ in range(3):
        message = await _start(client, thread["id"])
        await _step(client, message, "chunks", {"index": 0, "content": "a"})
        head = await store.head_position()
        bodies = [{"index": 1, "content": "bc"}] * 3
        answers = await asyncio.gather(*(_send_chunk(client, message, b) for b in bodies))
        assert answers == [(200, {"message_id": message["id"], "index": 1, "length": 3})] * 3
        assert await store.head_position() == head + 1
        # A clash with the chunk still queued is told as one, with the next index.
        bodies = [{"index": 2, "content": "d"}, {"index": 2, "content": "e"}]
        clashed = await asyncio.gather(*(_send_chunk(client, message, b) for b in bodies))
        assert sorted(status for status, _ in clashed) == [200, 409]
        assert next(a for status, a in clashed if status == 409)["expected_index"] == 3
        assert (await _read(client, message))["content"] in ("abcd", "abce")


async def _send_chunk(
    client: Client, message: dict[str, Any], body: dict[str, Any]
) -> tuple[int, Any]:
    async with client.post(_path(message, "chunks"), json=body, headers=AGENT) as response:
        return response.status, await response.json(content_type=None)


async def _read_thread(client: Client, thread_id: str) -> None:
    async with client.get(f"/chat/threads/{thread_id}", headers=MEMBER) as response:
        assert response.status == 200


async def test_only_the_author_appends_completes_or_fails(client: Client) -> None:
    thread = await create_thread(client, MEMBER)
    message = await _start(client, thread["id"])
    for step, body in (
        ("chunks", {"index": 0, "content": "x"}),
        ("complete", {}),
        ("fail", {"error": "no"}),
    ):
        await expect_refusal(
            client, "POST", _path(message, step), 403, headers=OTHER_AGENT, json=body
        )
        await expect_refusal(client, "POST", _path(message, step), 403, headers=MEMBER, json=body)


async def test_any_reader_stops_a_reply_and_its_text_stays(client: Client) -> None:
    thread = await create_thread(client, MEMBER)
    message = await _start(client, thread["id"])
    await _step(client, message, "chunks", {"index": 0, "content": "so far"})
    stopped = await _step(client, message, "cancel", {}, headers=MEMBER)
    assert (stopped["status"], stopped["content"]) == ("cancelled", "so far")
    assert await _step(client, message, "cancel", {}, headers=ADMIN) == stopped
    for step, body in (("complete", {}), ("chunks", {"index": 1, "content": "more"})):
        _, problem = await expect_refusal(
            client, "POST", _path(message, step), 409, headers=AGENT, json=body
        )
        assert "cancelled" in problem["detail"]


async def test_a_failed_reply_says_why_and_cannot_be_cancelled(client: Client) -> None:
    thread = await create_thread(client, MEMBER)
    message = await _start(client, thread["id"])
    failed = await _step(client, message, "fail", {"error": "the model went away"})
    assert (failed["status"], failed["error"]) == ("failed", "the model went away")
    await expect_refusal(client, "POST", _path(message, "cancel"), 409, headers=MEMBER, json={})
    await expect_refusal(client, "POST", _path(message, "complete"), 409, headers=AGENT, json={})


async def test_a_complete_message_takes_no_chunks_and_cannot_be_cancelled(
    memory_client: Client,
) -> None:
    thread = await create_thread(memory_client, MEMBER)
    response = await memory_client.post(
        f"/chat/threads/{thread['id']}/messages",
        json={"role": "assistant", "content": "done"},
        headers=AGENT,
    )
    message = await response.json()
    await expect_refusal(
        memory_client,
        "POST",
        _path(message, "chunks"),
        409,
        headers=AGENT,
        json={"index": 0, "content": "x"},
    )
    await expect_refusal(
        memory_client, "POST", _path(message, "cancel"), 409, headers=MEMBER, json={}
    )


BAD_STEPS = [
    ("chunks", {"index": -1, "content": "x"}, "index"),
    ("chunks", {"index": 0, "content": ""}, "content"),
    ("chunks", {"index": "0", "content": "x"}, "index"),
    ("chunks", {"content": "x"}, "index"),
    ("complete", {"finish_reason": "done"}, "finish_reason"),
    ("complete", {"extra": 1}, "extra"),
    ("fail", {"error": ""}, "error"),
    ("fail", {"error": "e" * 501}, "error"),
    ("cancel", {"why": "x"}, "why"),
]


@pytest.mark.parametrize(
    ("step", "body", "field"), BAD_STEPS, ids=[f"{s}-{f}" for s, _, f in BAD_STEPS]
)
async def test_a_step_body_that_breaks_the_contract_is_a_422(
    memory_client: Client, step: str, body: dict[str, Any], field: str
) -> None:
    thread = await create_thread(memory_client, MEMBER)
    message = await _start(memory_client, thread["id"])
    _, problem = await expect_refusal(
        memory_client, "POST", _path(message, step), 422, headers=AGENT, json=body
    )
    assert any(error["field"] == field for error in problem["errors"]), problem


async def test_an_unknown_message_or_another_tenant_s_thread_is_a_404(
    memory_client: Client,
) -> None:
    thread = await create_thread(memory_client, MEMBER)
    message = await _start(memory_client, thread["id"])
    ghost = {**message, "id": "msg_9-nosuchmessage"}
    await expect_refusal(
        memory_client, "POST", _path(ghost, "cancel"), 404, headers=MEMBER, json={}
    )
    stranger = auth_headers("u_x", bearer=token("u_x", {"t_other": ["agent"]}), tenant="t_other")
    await expect_refusal(
        memory_client, "POST", _path(message, "cancel"), 404, headers=stranger, json={}
    )


async def test_the_stream_shows_every_step_and_resumes_mid_reply_once(client: Client) -> None:
    thread = await create_thread(client, MEMBER)
    message = await _start(client, thread["id"])
    for i, text in enumerate(["one ", "two "]):
        await _step(client, message, "chunks", {"index": i, "content": text})
    events_path = f"/chat/threads/{thread['id']}/events"
    async with client.get(events_path, headers=MEMBER) as response:
        seen = await read_sse(response, 4)
    assert [e.type for e in seen] == [
        "chat.thread.created",
        "chat.message.posted",
        "chat.message.chunk",
        "chat.message.chunk",
    ]
    assert seen[1].data["data"]["status"] == "in_progress"
    assert [e.data["data"]["content"] for e in seen[2:]] == ["one ", "two "]
    # Reconnect after the first chunk: the second once, then the live ones.
    resume = {**MEMBER, "Last-Event-ID": seen[2].id}
    async with client.get(events_path, headers=resume) as response:
        await _step(client, message, "chunks", {"index": 2, "content": "three"})
        await _step(client, message, "complete", {"finish_reason": "stop"})
        later = await read_sse(response, 3)
    assert [(e.type, e.data["data"].get("index")) for e in later] == [
        ("chat.message.chunk", 1),
        ("chat.message.chunk", 2),
        ("chat.message.completed", None),
    ]
    assert "".join(e.data["data"]["content"] for e in seen[2:3] + later[:2]) == "one two three"


async def test_the_websocket_shows_chunks_after_a_version(memory_client: Client) -> None:
    thread = await create_thread(memory_client, MEMBER)
    message = await _start(memory_client, thread["id"])
    await _step(memory_client, message, "chunks", {"index": 0, "content": "a"})
    async with memory_client.ws_connect("/chat/ws", headers=MEMBER) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread["id"], "after": 2})
        assert (await ws_reply(socket, op="ack"))["op"] == "ack"
        event = await ws_reply(socket, op="event")
        assert event["event"]["type"] == "chat.message.chunk"
        assert event["event"]["data"]["content"] == "a"


async def test_an_erased_author_s_chunks_read_as_erased(memory_client: Client) -> None:
    thread = await create_thread(memory_client, MEMBER)
    message = await _start(memory_client, thread["id"])
    await _step(memory_client, message, "chunks", {"index": 0, "content": "private"})
    response = await memory_client.post(
        "/admin/erasures", json={"subject": "u_agent"}, headers=ADMIN
    )
    assert response.status == 202, await response.text()
    read = await _read(memory_client, message)
    assert read["erased"] is True and read["content"] is None
    async with memory_client.get(f"/chat/threads/{thread['id']}/events", headers=MEMBER) as sse:
        seen = await read_sse(sse, 3)
    assert seen[2].data["data"]["content"] is None and seen[2].data["data"]["erased"] is True


async def test_acknowledged_chunks_survive_a_restart_and_the_tools_read_them(
    make_client: Any, tmp_path: Path, cli: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    first = await make_client(store_url=url)
    thread = await create_thread(first, MEMBER)
    message = await _start(first, thread["id"])
    for i in range(5):
        await _step(first, message, "chunks", {"index": i, "content": f"{i},"})
    finished = await _start(first, thread["id"])
    await _step(first, finished, "chunks", {"index": 0, "content": "whole"})
    await _step(first, finished, "complete", {"finish_reason": "stop"})
    await first.close()
    second = await make_client(store_url=url)
    read = await _read(second, message)
    assert (read["status"], read["content"]) == ("in_progress", "0,1,2,3,4,")
    assert (await _read(second, finished))["content"] == "whole"
    await _step(second, message, "chunks", {"index": 5, "content": "5"})
    await second.close()
    for argv in (("verify",), ("replay", "--check")):
        # The command line runs its own event loop: off this one.
        status, out, err = await asyncio.to_thread(cli, *argv, "--store", url)
        assert status == 0, out + err
    exported = tmp_path / "log.jsonl"
    status, out, err = await asyncio.to_thread(cli, "export", "--store", url, "-o", str(exported))
    assert status == 0, out + err
    lines = [orjson.loads(line) for line in exported.read_text().splitlines()]
    chunks = [line["payload"] for line in lines if line["type"] == "chat.message.chunk"]
    assert "".join(c["content"] for c in chunks if c["message_id"] == message["id"]) == (
        "0,1,2,3,4,5"
    )
    assert all("sealed" not in chunk for chunk in chunks)
    assert {line["type"] for line in lines} >= {"chat.message.chunk", "chat.message.completed"}


async def test_an_agent_streams_a_reply_over_one_socket(memory_client: Client) -> None:
    thread = await create_thread(memory_client, MEMBER)
    message = await _start(memory_client, thread["id"])
    target = {"thread_id": thread["id"], "message_id": message["id"]}
    store = memory_client.app[CORE].store
    async with memory_client.ws_connect("/chat/ws", headers=AGENT) as socket:
        for index, text in enumerate(["a", "b"]):
            await socket.send_json(
                {"op": "chunk", "id": index, **target, "index": index, "content": text}
            )
            reply = await ws_reply(socket)
            assert reply["op"] == "ack" and reply["id"] == index
            assert reply["chunk"] == {
                "message_id": message["id"],
                "index": index,
                "length": index + 1,
            }
        head = await store.head_position()
        await socket.send_json({"op": "chunk", "id": 9, **target, "index": 5, "content": "x"})
        refused = await ws_reply(socket)
        assert (refused["op"], refused["status"], refused["expected_index"]) == ("error", 409, 2)
        assert await store.head_position() == head
        await socket.send_json({"op": "complete", "id": 10, **target, "finish_reason": "stop"})
        done = await ws_reply(socket)
        assert done["message"]["status"] == "complete" and done["message"]["content"] == "ab"
    async with memory_client.ws_connect("/chat/ws", headers=MEMBER) as socket:
        await socket.send_json({"op": "cancel", "id": 1, **target})
        refused = await ws_reply(socket)
        assert (refused["op"], refused["status"]) == ("error", 409)
        await socket.send_json({"op": "chunk", "id": 2, **target, "index": 2, "content": "x"})
        assert (await ws_reply(socket))["status"] == 403


async def test_a_reader_stops_a_reply_over_the_socket(memory_client: Client) -> None:
    thread = await create_thread(memory_client, MEMBER)
    message = await _start(memory_client, thread["id"])
    async with memory_client.ws_connect("/chat/ws", headers=MEMBER) as socket:
        frame = {"op": "cancel", "id": 1, "thread_id": thread["id"], "message_id": message["id"]}
        await socket.send_json(frame)
        reply = await ws_reply(socket)
        assert reply["op"] == "ack" and reply["message"]["status"] == "cancelled"
        await socket.send_json({**frame, "id": 2, "message_id": ""})
        assert (await ws_reply(socket))["status"] == 422


async def test_a_redacted_reply_s_chunks_are_withdrawn_from_both_streams(
    memory_client: Client,
) -> None:
    thread = await create_thread(memory_client, MEMBER)
    message = await _start(memory_client, thread["id"])
    await _step(memory_client, message, "chunks", {"index": 0, "content": "leaked words"})
    path = f"/chat/threads/{thread['id']}/messages/{message['id']}"
    response = await memory_client.delete(path, headers=ADMIN)
    assert response.status == 204, await response.text()
    async with memory_client.get(f"/chat/threads/{thread['id']}/events", headers=MEMBER) as sse:
        seen = await read_sse(sse, 3)
    chunk = seen[2].data["data"]
    assert (chunk["content"], chunk["redacted"], chunk["erased"]) == (None, True, False)
    async with memory_client.ws_connect("/chat/ws", headers=MEMBER) as socket:
        await socket.send_json({"op": "subscribe", "id": 1, "thread_id": thread["id"], "after": 2})
        assert (await ws_reply(socket, op="ack"))["op"] == "ack"
        event = await ws_reply(socket, op="event")
    assert event["event"]["type"] == "chat.message.chunk"
    assert (event["event"]["data"]["content"], event["event"]["data"]["redacted"]) == (None, True)


async def test_a_redacted_reply_s_chunks_are_withdrawn_from_consumer_batches(
    client: Client,
) -> None:
    response = await client.post("/admin/consumers", json={"name": "evals"}, headers=ADMIN)
    assert response.status == 201, await response.text()
    thread = await create_thread(client, MEMBER)
    message = await _start(client, thread["id"])
    # The consumer moves past the reply's start: its next batch opens on the chunk.
    batch = await (await client.get("/admin/consumers/evals/events", headers=ADMIN)).json()
    ack = {"position": batch["next_position"]}
    response = await client.post("/admin/consumers/evals/ack", json=ack, headers=ADMIN)
    assert response.status == 200, await response.text()
    await _step(client, message, "chunks", {"index": 0, "content": "leaked words"})
    response = await client.delete(
        f"/chat/threads/{thread['id']}/messages/{message['id']}", headers=ADMIN
    )
    assert response.status == 204, await response.text()
    batch = await (await client.get("/admin/consumers/evals/events", headers=ADMIN)).json()
    assert [event["type"] for event in batch["data"]] == [
        "chat.message.chunk",
        "chat.message.redacted",
    ]
    chunk = batch["data"][0]["data"]
    assert (chunk["content"], chunk["redacted"], chunk["erased"]) == (None, True, False)
    assert "leaked" not in orjson.dumps(batch).decode()


async def test_a_first_piece_posted_with_the_start_counts_and_streams_once(
    client: Client,
) -> None:
    thread = await create_thread(client, MEMBER)
    message = await _start(client, thread["id"], content="Hel")
    ack = await _step(client, message, "chunks", {"index": 0, "content": "lo"})
    assert ack["length"] == 5  # characters so far: the first piece and the chunk
    async with client.get(f"/chat/threads/{thread['id']}/events", headers=MEMBER) as sse:
        seen = await read_sse(sse, 3)
    # The start shows its own piece, the chunk the rest: a reader joins them once.
    assert [e.data["data"]["content"] for e in seen[1:]] == ["Hel", "lo"]
    assert (await _read(client, message))["content"] == "Hello"
    done = await _step(client, message, "complete", {"finish_reason": "stop"})
    assert done["content"] == "Hello"
    async with client.get(f"/chat/threads/{thread['id']}/events", headers=MEMBER) as sse:
        again = await read_sse(sse, 4)
    assert [e.data["data"].get("content") for e in again[1:3]] == ["Hel", "lo"]
