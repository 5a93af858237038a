"""A message's LLM fields: parent, status, model, the temperature applied, tool calls, usage.

Over a real server on each backend; each refusal is a 422 (or 403) problem that appends
nothing. Messages posted before these fields existed read as complete, each the child of
the one before it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chat_core.cursors import encode_cursor
from chat_core.fold import apply_event
from chat_core.payloads import MessagePosted, ThreadCreated
from chat_core.state import FIRST, RECENT, ThreadState
from events.codec import EventCodec
from events.envelope import DatasetEvent, Env
from events.ids import new_event_id
from tests.http.helpers import auth_headers, create_thread, expect_refusal, post_message, token

Client = TestClient[Any, Any]


def _headers(who: str) -> dict[str, str]:
    return auth_headers(f"u_{who}", bearer=token(f"u_{who}", {"t_acme": [who]}))


MEMBER, AGENT, ADMIN = _headers("member"), _headers("agent"), _headers("admin")


async def _post(client: Client, thread_id: str, body: dict[str, Any], headers: Any = AGENT) -> Any:
    response = await client.post(f"/chat/threads/{thread_id}/messages", json=body, headers=headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def _messages(client: Client, thread_id: str, **query: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"/chat/threads/{thread_id}/messages", params={"limit": "100", **query}, headers=MEMBER
    )
    assert response.status == 200, await response.text()
    data: list[dict[str, Any]] = (await response.json())["data"]
    return data


async def test_a_plain_post_continues_from_the_thread_s_head(client: Client) -> None:
    thread = await create_thread(client, MEMBER)
    assert thread["head"] is None
    first = await post_message(client, MEMBER, thread["id"], "hello")
    second = await post_message(client, MEMBER, thread["id"], "again")
    assert first["parent_id"] is None and second["parent_id"] == first["id"]
    for message in (first, second, *await _messages(client, thread["id"])):
        assert message["status"] == "complete" and message["feedback"] == {"up": 0, "down": 0}
        assert message["tool_calls"] == [] and message["model"] is None
        assert message["usage"] is None and message["error"] is None
    read = await client.get(f"/chat/threads/{thread['id']}", headers=MEMBER)
    assert (await read.json())["head"] == second["id"]
    assert [m["parent_id"] for m in await _messages(client, thread["id"])] == [None, first["id"]]


async def test_a_parent_named_is_recorded_and_the_head_moves_on(client: Client) -> None:
    thread = await create_thread(client, MEMBER)
    question = await post_message(client, MEMBER, thread["id"], "question")
    answer = await post_message(client, MEMBER, thread["id"], "answer")
    edited = await _post(client, thread["id"], {"content": "edited", "parent_id": question["id"]})
    assert edited["parent_id"] == question["id"]
    after = await post_message(client, MEMBER, thread["id"], "next")
    assert after["parent_id"] == edited["id"]
    again = await _post(client, thread["id"], {"content": "x", "parent_id": after["id"]})
    listed = await _messages(client, thread["id"])
    assert [m["parent_id"] for m in listed] == [
        None,
        question["id"],
        question["id"],
        edited["id"],
        after["id"],
    ]
    assert listed[-1]["id"] == again["id"] and answer["id"] == listed[1]["id"]


async def test_a_parent_outside_the_thread_is_a_422(client: Client) -> None:
    thread = await create_thread(client, MEMBER)
    other = await create_thread(client, MEMBER)
    foreign = await post_message(client, MEMBER, other["id"], "elsewhere")
    await post_message(client, MEMBER, thread["id"], "here")
    path = f"/chat/threads/{thread['id']}/messages"
    for parent in (foreign["id"], "msg_1-nosuchmessage", "m"):
        _, problem = await expect_refusal(
            client, "POST", path, 422, headers=MEMBER, json={"content": "x", "parent_id": parent}
        )
        assert problem["errors"][0]["field"] == "parent_id"


async def _set_config(client: Client, **config: Any) -> None:
    body = {"default": 0.7, "min": 0.2, "max": 1.2, "overrides": {}, **config}
    response = await client.put("/temperature/config", json=body, headers=ADMIN)
    assert response.status == 200, await response.text()


async def test_the_temperature_in_force_is_recorded(client: Client) -> None:
    await _set_config(client, overrides={"gpt-x": 0.3})
    thread = await create_thread(client, MEMBER)
    default = await _post(client, thread["id"], {"role": "assistant", "content": "a", "model": "m"})
    override = await _post(
        client, thread["id"], {"role": "assistant", "content": "b", "model": "gpt-x"}
    )
    chosen = await _post(
        client,
        thread["id"],
        {"role": "assistant", "content": "c", "model": "gpt-x", "temperature": 1.1},
    )
    assert (default["temperature"], override["temperature"], chosen["temperature"]) == (
        0.7,
        0.3,
        1.1,
    )
    listed = await _messages(client, thread["id"])
    assert [m["temperature"] for m in listed] == [0.7, 0.3, 1.1]
    assert [m["model"] for m in listed] == ["m", "gpt-x", "gpt-x"]
    # Without a model nothing decides a temperature.
    plain = await _post(client, thread["id"], {"role": "assistant", "content": "d"})
    assert plain["temperature"] is None


async def test_a_temperature_outside_the_config_is_a_422(client: Client) -> None:
    await _set_config(client)
    thread = await create_thread(client, MEMBER)
    path = f"/chat/threads/{thread['id']}/messages"
    for value in (0.1, 1.3, 2.0):
        body = {"role": "assistant", "content": "a", "model": "m", "temperature": value}
        _, problem = await expect_refusal(client, "POST", path, 422, headers=AGENT, json=body)
        assert problem["errors"] == [
            {"field": "temperature", "message": "must be between min 0.2 and max 1.2"}
        ]


async def test_the_server_s_defaults_apply_before_any_config_is_written(client: Client) -> None:
    thread = await create_thread(client, MEMBER)
    made = await _post(client, thread["id"], {"role": "assistant", "content": "a", "model": "m"})
    assert made["temperature"] == 1.0


async def test_tool_calls_usage_and_finish_reason_are_kept(client: Client) -> None:
    thread = await create_thread(client, MEMBER)
    calls = [{"id": "call_1", "name": "weather", "arguments": '{"city": "Oslo"}'}]
    asked = await _post(
        client,
        thread["id"],
        {
            "role": "assistant",
            "content": "",
            "tool_calls": calls,
            "finish_reason": "tool_calls",
            "usage": {"input_tokens": 12, "output_tokens": 7},
        },
    )
    answered = await _post(
        client, thread["id"], {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}
    )
    listed = await _messages(client, thread["id"])
    assert listed[0]["tool_calls"] == calls and listed[0]["content"] == ""
    assert listed[0]["finish_reason"] == "tool_calls"
    assert listed[0]["usage"] == {"input_tokens": 12, "output_tokens": 7}
    assert listed[1]["tool_call_id"] == "call_1" and listed[1]["parent_id"] == asked["id"]
    assert listed == [asked, answered]


async def test_an_agent_starts_a_generation_with_no_content(client: Client) -> None:
    thread = await create_thread(client, MEMBER)
    started = await _post(
        client, thread["id"], {"role": "assistant", "status": "in_progress", "model": "m"}
    )
    assert started["status"] == "in_progress" and started["content"] == ""
    assert (await _messages(client, thread["id"]))[0]["status"] == "in_progress"


BAD_BODIES = [
    ({"role": "tool", "content": "x"}, "tool_call_id"),
    ({"role": "user", "content": "x", "tool_call_id": "c"}, "tool_call_id"),
    (
        {"role": "user", "content": "x", "tool_calls": [{"id": "c", "name": "n", "arguments": ""}]},
        "tool_calls",
    ),
    ({"role": "user", "content": ""}, "content"),
    ({"role": "assistant", "content": ""}, "content"),
    ({"role": "user"}, "content"),
    ({"content": "x", "finish_reason": "done"}, "finish_reason"),
    ({"content": "x", "status": "cancelled"}, "status"),
    ({"content": "x", "usage": {"input_tokens": -1, "output_tokens": 0}}, "usage.input_tokens"),
    ({"content": "x", "usage": {"input_tokens": True, "output_tokens": 0}}, "usage.input_tokens"),
    ({"content": "x", "usage": {"input_tokens": 1}}, "usage.output_tokens"),
    ({"content": "x", "model": ""}, "model"),
    ({"content": "x", "model": "m" * 101}, "model"),
    ({"content": "x", "temperature": "hot"}, "temperature"),
    ({"content": "x", "parent_id": None}, "parent_id"),
    ({"content": "x", "tool_calls": [{"id": "c", "name": "n"}]}, "tool_calls"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=[f for _, f in BAD_BODIES])
async def test_a_body_that_breaks_the_fields_rules_is_a_422(
    memory_client: Client, body: dict[str, Any], field: str
) -> None:
    thread = await create_thread(memory_client, MEMBER)
    path = f"/chat/threads/{thread['id']}/messages"
    _, problem = await expect_refusal(memory_client, "POST", path, 422, headers=AGENT, json=body)
    assert any(error["field"].startswith(field) for error in problem["errors"]), problem


async def test_only_an_agent_starts_a_generation(memory_client: Client) -> None:
    thread = await create_thread(memory_client, MEMBER)
    path = f"/chat/threads/{thread['id']}/messages"
    body = {"role": "user", "status": "in_progress"}
    for who in (MEMBER, ADMIN):
        _, problem = await expect_refusal(memory_client, "POST", path, 403, headers=who, json=body)
        assert "agent" in problem["detail"]


async def test_a_replayed_post_answers_with_its_parent(client: Client) -> None:
    thread = await create_thread(client, MEMBER)
    first = await post_message(client, MEMBER, thread["id"], "one")
    headers = {**MEMBER, "Idempotency-Key": "k-1"}
    path = f"/chat/threads/{thread['id']}/messages"
    answers = []
    for _ in range(2):
        response = await client.post(path, json={"content": "two"}, headers=headers)
        assert response.status == 201
        answers.append(await response.json())
    assert answers[0] == answers[1] and answers[1]["parent_id"] == first["id"]


async def test_messages_read_back_from_the_stream_know_their_parent(
    memory_client: Client,
) -> None:
    thread = await create_thread(memory_client, MEMBER)
    ids = [
        (await post_message(memory_client, MEMBER, thread["id"], f"m{n}"))["id"]
        for n in range(FIRST + RECENT + 80)
    ]
    # The middle of the thread is not kept in memory: it is read back from the stream.
    after = f"{FIRST + 10}"
    page = await memory_client.get(
        f"/chat/threads/{thread['id']}/messages",
        params={"limit": "100", "after": _cursor(after)},
        headers=MEMBER,
    )
    assert page.status == 200, await page.text()
    data = (await page.json())["data"]
    assert data and all(m["parent_id"] == ids[m["seq"] - 2] for m in data)


def _cursor(seq: str) -> str:
    return encode_cursor("messages", "asc", int(seq))


OLD_POSTS = [
    (
        1,
        b'{"thread_id": "th_old", "message_id": "msg_1-a", "seq": 1, "role": "user",'
        b' "content": "hi", "metadata": {}}',
    ),
    (
        2,
        b'{"thread_id": "th_old", "message_id": "msg_2-b", "seq": 2, "role": "assistant",'
        b' "content": "hello", "metadata": {}, "sealed": null}',
    ),
]


def test_a_message_posted_before_the_fields_reads_complete_after_its_predecessor() -> None:
    codec = EventCodec()
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def event(version: int, payload: Any) -> DatasetEvent:
        return DatasetEvent(
            event_id=new_event_id(),
            stream="chat/t_acme/dev/th_old",
            version=version,
            tenant="t_acme",
            env=Env.DEV,
            request_id=f"r{version}",
            trace_id=f"r{version}",
            actor="u_ada",
            occurred_at=now,
            payload=payload,
        )

    state = apply_event(ThreadState(), event(1, ThreadCreated(thread_id="th_old")))
    for version, (schema, raw) in enumerate(OLD_POSTS, start=2):
        payload = codec.payload_from_json("chat.message.posted", schema, raw)
        assert isinstance(payload, MessagePosted) and payload.llm is None
        apply_event(state, event(version, payload))
    views = [message.view("th_old").to_json() for message in state.kept()]
    assert [v["status"] for v in views] == ["complete", "complete"]
    assert [v["parent_id"] for v in views] == [None, "msg_1-a"]
    assert state.view().head == "msg_2-b"
