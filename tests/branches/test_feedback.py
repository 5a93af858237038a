"""Feedback: one rating per assistant message and rater, counted on the message.

Over a real server on each backend. A rating is a `chat.message.rated` event of the
thread; a withdrawal is one with rating null. Refusals append nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from tests.branches.helpers import ADMIN, AGENT, MEMBER, Client, headers_of, path_of, post
from tests.http.helpers import create_thread, expect_refusal
from tests.streams.helpers import read_sse
from transports.http.app_keys import CORE


def _feedback(thread: str, message: str) -> str:
    return f"/chat/threads/{thread}/messages/{message}/feedback"


async def _rate(
    client: Client, thread: str, message: str, body: dict[str, Any], headers: Any = MEMBER
) -> dict[str, Any]:
    response = await client.put(_feedback(thread, message), json=body, headers=headers)
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def _counts(client: Client, thread: str, message: str) -> dict[str, int]:
    response = await client.get(f"/chat/threads/{thread}/messages", headers=MEMBER)
    page = await response.json()
    (found,) = [m for m in page["data"] if m["id"] == message]
    (on_path,) = [m for m in await path_of(client, thread, message) if m["id"] == message]
    assert on_path["feedback"] == found["feedback"]
    counts: dict[str, int] = found["feedback"]
    return counts


async def _thread_with_answer(client: Client) -> tuple[str, dict[str, Any], dict[str, Any]]:
    thread = (await create_thread(client, MEMBER))["id"]
    question = await post(client, thread, "question")
    answer = await post(client, thread, "answer", role="assistant")
    return thread, question, answer


async def test_ratings_are_counted_replaced_and_withdrawn(client: Client) -> None:
    thread, _question, answer = await _thread_with_answer(client)
    other = headers_of("member2")
    made = await _rate(client, thread, answer["id"], {"rating": 1, "comment": "good"})
    assert made["message_id"] == answer["id"] and made["rating"] == 1
    assert made["comment"] == "good" and made["by"] == "u_member"
    assert made["updated_at"].endswith("Z")
    assert await _counts(client, thread, answer["id"]) == {"up": 1, "down": 0}
    await _rate(client, thread, answer["id"], {"rating": -1}, headers=other)
    assert await _counts(client, thread, answer["id"]) == {"up": 1, "down": 1}
    replaced = await _rate(client, thread, answer["id"], {"rating": -1})
    assert replaced["comment"] is None
    assert await _counts(client, thread, answer["id"]) == {"up": 0, "down": 2}
    response = await client.delete(_feedback(thread, answer["id"]), headers=MEMBER)
    assert response.status == 204
    assert await _counts(client, thread, answer["id"]) == {"up": 0, "down": 1}
    store = client.app[CORE].store
    head = await store.head_position()
    again = await client.delete(_feedback(thread, answer["id"]), headers=MEMBER)
    assert again.status == 204 and await store.head_position() == head
    rated = [
        item.event async for item in store.read_all() if item.event.type == "chat.message.rated"
    ]
    assert [(e.actor, e.payload.rating) for e in rated] == [
        ("u_member", 1),
        ("u_member2", -1),
        ("u_member", -1),
        ("u_member", None),
    ]
    assert all(e.tenant == "t_acme" and e.request_id for e in rated)


async def test_a_repeated_put_with_its_key_replays_the_answer(client: Client) -> None:
    thread, _question, answer = await _thread_with_answer(client)
    headers = {**MEMBER, "Idempotency-Key": "rate-1"}
    body = {"rating": 1, "comment": "kept words"}
    first = await _rate(client, thread, answer["id"], body, headers=headers)
    store = client.app[CORE].store
    head = await store.head_position()
    response = await client.put(_feedback(thread, answer["id"]), json=body, headers=headers)
    assert response.status == 200 and response.headers["Idempotent-Replayed"] == "true"
    assert await response.json() == first and await store.head_position() == head


async def test_feedback_on_what_is_not_an_assistant_message_of_the_thread_is_refused(
    client: Client,
) -> None:
    thread, question, answer = await _thread_with_answer(client)
    other = (await create_thread(client, MEMBER))["id"]
    foreign = await post(client, other, "elsewhere", role="assistant")
    body = {"json": {"rating": 1}}
    _, problem = await expect_refusal(
        client, "PUT", _feedback(thread, question["id"]), 422, headers=MEMBER, **body
    )
    assert problem["errors"][0]["field"] == "message_id"
    await expect_refusal(client, "DELETE", _feedback(thread, question["id"]), 422, headers=MEMBER)
    for message_id in (foreign["id"], "msg_1-nosuchmessage", "m"):
        for method in ("PUT", "DELETE"):
            await expect_refusal(
                client, method, _feedback(thread, message_id), 404, headers=MEMBER, **body
            )
    for headers in (headers_of("member", tenant="t_globex"), headers_of("member", env="prod")):
        await expect_refusal(
            client, "PUT", _feedback(thread, answer["id"]), 404, headers=headers, **body
        )
    assert await _counts(client, thread, answer["id"]) == {"up": 0, "down": 0}


async def test_a_malformed_rating_is_a_422(client: Client) -> None:
    thread, _question, answer = await _thread_with_answer(client)
    path = _feedback(thread, answer["id"])
    for bad, field in (
        ({"rating": 0}, "rating"),
        ({"rating": 2}, "rating"),
        ({"rating": True}, "rating"),
        ({"rating": "1"}, "rating"),
        ({"rating": None}, "rating"),
        ({}, "rating"),
        ({"rating": 1, "comment": "x" * 2001}, "comment"),
        ({"rating": 1, "comment": 5}, "comment"),
        ({"rating": 1, "by": "u_other"}, "by"),
    ):
        _, problem = await expect_refusal(client, "PUT", path, 422, headers=MEMBER, json=bad)
        assert problem["errors"][0]["field"] == field, (bad, problem)
    headers = {**MEMBER, "Content-Type": "application/json"}
    await expect_refusal(client, "PUT", path, 400, headers=headers, data=b"{")


async def test_an_erased_rater_s_comment_reads_as_erased(memory_client: Client) -> None:
    client = memory_client
    thread, _question, answer = await _thread_with_answer(client)
    rater = headers_of("member3")
    await _rate(client, thread, answer["id"], {"rating": 1, "comment": "secret"}, headers=rater)
    stored = [i.event async for i in client.app[CORE].store.read_all()][-1]
    assert b"secret" not in orjson.dumps(stored.payload.sealed)
    assert stored.payload.comment is None
    async with client.get(f"/chat/threads/{thread}/events", headers=MEMBER) as sse:
        seen = await read_sse(sse, 4)
    assert seen[3].data["type"] == "chat.message.rated"
    assert seen[3].data["data"] == {
        "thread_id": thread,
        "message_id": answer["id"],
        "rating": 1,
        "by": "u_member3",
        "comment": "secret",
        "erased": False,
    }
    erased = await client.post("/admin/erasures", json={"subject": "u_member3"}, headers=ADMIN)
    assert erased.status == 202
    async with client.get(f"/chat/threads/{thread}/events", headers=MEMBER) as sse:
        seen = await read_sse(sse, 4)
    assert seen[3].data["data"]["comment"] is None and seen[3].data["data"]["erased"] is True
    # The rating itself stands: it is a count, not the rater's words.
    assert await _counts(client, thread, answer["id"]) == {"up": 1, "down": 0}


async def test_the_tools_read_ratings(make_client: Any, tmp_path: Path, cli: Any) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    client = await make_client(store_url=url)
    thread, _question, answer = await _thread_with_answer(client)
    keyed = {**MEMBER, "Idempotency-Key": "k1"}
    await _rate(client, thread, answer["id"], {"rating": -1, "comment": "wrong"}, headers=keyed)
    await _rate(client, thread, answer["id"], {"rating": 1}, headers=AGENT)
    response = await client.delete(_feedback(thread, answer["id"]), headers=AGENT)
    assert response.status == 204
    await client.close()
    for argv in (("verify",), ("replay", "--check")):
        status, out, err = await asyncio.to_thread(cli, *argv, "--store", url)
        assert status == 0, out + err
    exported = tmp_path / "log.jsonl"
    status, out, err = await asyncio.to_thread(cli, "export", "--store", url, "-o", str(exported))
    assert status == 0, out + err
    lines = [orjson.loads(line) for line in exported.read_text().splitlines()]
    rated = [line for line in lines if line["type"] == "chat.message.rated"]
    assert [(line["actor"], line["payload"]["rating"]) for line in rated] == [
        ("u_member", -1),
        ("u_agent", 1),
        ("u_agent", None),
    ]
    assert rated[0]["payload"]["comment"] == "wrong"
    assert all("sealed" not in line["payload"] for line in rated)
