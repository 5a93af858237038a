"""SSE: the contract's frames, resume by Last-Event-ID, auth and tenant rules, heartbeats."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, create_thread, post_message, problem_of
from tests.streams.helpers import read_sse

Client = TestClient[Any, Any]
ENVELOPE = {
    "type",
    "version",
    "position",
    "event_id",
    "tenant",
    "env",
    "request_id",
    "occurred_at",
    "data",
}


async def test_stored_events_then_live_ones_in_the_contract_shape(client: Client) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers, title="t")
    await post_message(client, headers, thread["id"], "one")
    async with client.get(f"/chat/threads/{thread['id']}/events", headers=headers) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        stored = await read_sse(response, 2)
        await post_message(client, headers, thread["id"], "two")
        live = await read_sse(response, 1)
    events = stored + live
    assert [e.id for e in events] == ["1", "2", "3"]
    assert [e.type for e in events] == [
        "chat.thread.created",
        "chat.message.posted",
        "chat.message.posted",
    ]
    last = events[-1].data
    assert set(last) == ENVELOPE
    assert last["version"] == 3 and last["tenant"] == "t_acme" and last["env"] == "dev"
    assert last["data"]["content"] == "two" and last["occurred_at"].endswith("Z")


@pytest.mark.parametrize("how", ["header", "query"])
async def test_last_event_id_resumes_after_that_version(client: Client, how: str) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers)
    for n in range(4):
        await post_message(client, headers, thread["id"], f"m{n}")
    path = f"/chat/threads/{thread['id']}/events"
    if how == "header":
        request: dict[str, Any] = {"headers": {**headers, "Last-Event-ID": "3"}}
    else:
        request = {"headers": headers, "params": {"last_event_id": "3"}}
    async with client.get(path, **request) as response:
        events = await read_sse(response, 2)
    assert [e.id for e in events] == ["4", "5"]


async def test_comment_lines_keep_an_idle_stream_alive(client: Client) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers)
    comments: list[str] = []
    async with client.get(f"/chat/threads/{thread['id']}/events", headers=headers) as response:
        await read_sse(response, 1, comments=comments)
        with pytest.raises(TimeoutError):
            await read_sse(response, 2, within=0.7, comments=comments)
    assert comments.count(": keep-alive") >= 2


async def test_no_token_is_401(client: Client) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers)
    del headers["Authorization"]
    response = await client.get(f"/chat/threads/{thread['id']}/events", headers=headers)
    await problem_of(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_bad_token_is_401(client: Client) -> None:
    thread = await create_thread(client, auth_headers())
    headers = auth_headers(bearer="not.a.token")
    response = await client.get(f"/chat/threads/{thread['id']}/events", headers=headers)
    await problem_of(response, 401)


async def test_missing_context_is_400(client: Client) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers)
    del headers["X-Env"]
    response = await client.get(f"/chat/threads/{thread['id']}/events", headers=headers)
    await problem_of(response, 400)


async def test_a_tenant_the_caller_is_not_a_member_of_is_403(client: Client) -> None:
    thread = await create_thread(client, auth_headers())
    headers = auth_headers("u_eve", "t_acme")
    response = await client.get(f"/chat/threads/{thread['id']}/events", headers=headers)
    await problem_of(response, 403)


@pytest.mark.parametrize(("tenant", "env"), [("t_globex", "dev"), ("t_acme", "prod")])
async def test_another_tenant_or_env_thread_is_404(client: Client, tenant: str, env: str) -> None:
    thread = await create_thread(client, auth_headers())
    headers = auth_headers("u_ada", tenant, env)
    response = await client.get(f"/chat/threads/{thread['id']}/events", headers=headers)
    await problem_of(response, 404)


@pytest.mark.parametrize(
    "params", [{"last_event_id": "-1"}, {"last_event_id": "x"}, {"since": "1"}]
)
async def test_bad_resume_point_or_unknown_query_is_400(
    client: Client, params: dict[str, str]
) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers)
    response = await client.get(
        f"/chat/threads/{thread['id']}/events", headers=headers, params=params
    )
    await problem_of(response, 400)


async def test_resume_is_exactly_once_under_concurrent_posting(client: Client) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers)
    total = 60

    async def poster(offset: int) -> None:
        for n in range(total // 3):
            await post_message(client, headers, thread["id"], f"p{offset}-{n}")
            await asyncio.sleep(0)

    posting = asyncio.gather(*(poster(offset) for offset in range(3)))
    received: list[int] = []
    last = 0
    path = f"/chat/threads/{thread['id']}/events"
    while last < total + 1:
        resume = {**headers, "Last-Event-ID": str(last)}
        async with client.get(path, headers=resume) as response:
            for event in await read_sse(response, min(7, total + 1 - last)):
                received.append(event.data["version"])
                last = event.data["version"]
    await posting
    assert received == list(range(1, total + 2))
