"""Threads and messages: shapes, the (tenant, env) partition, and cursor pagination."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from chat_core.views import MessageView, Page, ThreadView
from tests.http.helpers import (
    auth_headers,
    create_thread,
    expect_refusal,
    post_message,
)

Client = TestClient[Any, Any]
ADA = auth_headers("u_ada", "t_acme")


async def test_created_thread_has_the_contract_shape(client: Client) -> None:
    thread = await create_thread(client, ADA, title="Plans", metadata={"k": "v"})
    assert thread["id"].startswith("th_")
    assert thread["title"] == "Plans"
    assert thread["metadata"] == {"k": "v"}
    assert thread["created_by"] == "u_ada"
    assert thread["created_at"].endswith("Z")
    assert (thread["message_count"], thread["last_seq"]) == (0, 0)
    read = await client.get(f"/chat/threads/{thread['id']}", headers=ADA)
    assert read.status == 200
    assert await read.json() == thread


async def test_posted_message_has_the_contract_shape(client: Client) -> None:
    thread = await create_thread(client, ADA)
    headers = {**ADA, "X-Request-Id": "req-msg-1"}
    message = await post_message(client, headers, thread["id"], "hello")
    assert message["id"].startswith("msg_")
    assert message["thread_id"] == thread["id"]
    assert (message["seq"], message["role"], message["content"]) == (1, "user", "hello")
    assert message["author"] == "u_ada"
    assert message["request_id"] == "req-msg-1"
    assert (message["redacted"], message["erased"], message["metadata"]) == (False, False, {})
    read = await client.get(f"/chat/threads/{thread['id']}", headers=ADA)
    assert (await read.json())["message_count"] == 1


async def test_author_cannot_be_set_by_the_client(memory_client: Client) -> None:
    thread = await create_thread(memory_client, ADA)
    await expect_refusal(
        memory_client,
        "POST",
        f"/chat/threads/{thread['id']}/messages",
        422,
        headers=ADA,
        json={"content": "hi", "author": "u_bob"},
    )


OUTSIDERS = {
    "other-tenant": auth_headers("u_ada", "t_globex"),
    "other-env": auth_headers("u_ada", "t_acme", env="prod"),
    "other-tenant-admin": auth_headers("u_cyd", "t_acme", env="staging"),
}


@pytest.mark.parametrize("outsider", OUTSIDERS.values(), ids=OUTSIDERS.keys())
async def test_thread_outside_its_tenant_and_env_is_404_on_every_route(
    client: Client, outsider: dict[str, str]
) -> None:
    thread = await create_thread(client, ADA)
    message = await post_message(client, ADA, thread["id"], "secret")
    base = f"/chat/threads/{thread['id']}"
    for method, path, request in [
        ("GET", base, {}),
        ("GET", f"{base}/messages", {}),
        ("POST", f"{base}/messages", {"json": {"content": "intrude"}}),
        ("DELETE", f"{base}/messages/{message['id']}", {}),
    ]:
        _, body = await expect_refusal(client, method, path, 404, headers=outsider, **request)
        assert "secret" not in str(body)
    listing = await client.get("/chat/threads", headers=outsider)
    assert thread["id"] not in await listing.text()


async def test_unknown_ids_are_404(memory_client: Client) -> None:
    thread = await create_thread(memory_client, ADA)
    for method, path in [
        ("GET", "/chat/threads/th_nope"),
        ("GET", "/chat/threads/not-a-thread-id"),
        ("POST", "/chat/threads/th_nope/messages"),
        ("DELETE", f"/chat/threads/{thread['id']}/messages/msg_nope"),
        ("DELETE", "/chat/threads/th_nope/messages/msg_nope"),
    ]:
        await expect_refusal(memory_client, method, path, 404, headers=ADA, json={"content": "x"})


async def _walk(client: Client, path: str, **query: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = dict(query) if after is None else {**query, "after": after}
        response = await client.get(path, headers=ADA, params=params)
        assert response.status == 200, await response.text()
        page = await response.json()
        assert len(page["data"]) <= int(query.get("limit", 20))
        seen.extend(page["data"])
        assert page["has_more"] == (page["next"] is not None)
        if not page["has_more"]:
            return seen
        after = page["next"]


async def test_thread_cursors_walk_every_thread_newest_first(client: Client) -> None:
    made = [await create_thread(client, ADA, title=f"t{index}") for index in range(7)]
    await create_thread(client, auth_headers("u_ada", "t_acme", env="prod"))
    await create_thread(client, auth_headers("u_ada", "t_globex"))
    for limit in ("1", "3", "7", "100"):
        walked = await _walk(client, "/chat/threads", limit=limit)
        assert [thread["id"] for thread in walked] == [thread["id"] for thread in made[::-1]]


async def test_message_cursors_walk_both_orders_without_gaps(client: Client) -> None:
    thread = await create_thread(client, ADA)
    for index in range(9):
        await post_message(client, ADA, thread["id"], f"m{index}")
    path = f"/chat/threads/{thread['id']}/messages"
    for limit in ("1", "4", "9", "20"):
        ascending = await _walk(client, path, limit=limit, order="asc")
        assert [message["seq"] for message in ascending] == list(range(1, 10))
        descending = await _walk(client, path, limit=limit, order="desc")
        assert [message["seq"] for message in descending] == list(range(9, 0, -1))
    default = await (await client.get(path, headers=ADA)).json()
    assert [message["content"] for message in default["data"]] == [f"m{i}" for i in range(9)]


async def test_empty_listings_have_no_cursor(memory_client: Client) -> None:
    page = await (await memory_client.get("/chat/threads", headers=ADA)).json()
    assert page == {"data": [], "has_more": False, "next": None}
    thread = await create_thread(memory_client, ADA)
    path = f"/chat/threads/{thread['id']}/messages"
    for order in ("asc", "desc"):
        response = await memory_client.get(path, headers=ADA, params={"order": order})
        assert await response.json() == {"data": [], "has_more": False, "next": None}


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=",
        "limit=1&limit=2",
        "page=2",
        "after=",
        "after=%%%",
        "after=bm90IGEgY3Vyc29y",
        f"after={_cursor('threads:desc:-1')}",
        f"after={_cursor('messages:asc:1')}",
        f"after={_cursor('threads:desc:' + '9' * 80)}",
    ],
)
async def test_bad_thread_listing_query_is_400(memory_client: Client, query: str) -> None:
    await expect_refusal(memory_client, "GET", f"/chat/threads?{query}", 400, headers=ADA)


@pytest.mark.parametrize(
    "query",
    [
        "order=up",
        "order=",
        "limit=0",
        "foo=1",
        f"after={_cursor('threads:desc:1')}",
        f"order=desc&after={_cursor('messages:asc:1')}",
    ],
)
async def test_bad_message_listing_query_is_400(memory_client: Client, query: str) -> None:
    thread = await create_thread(memory_client, ADA)
    path = f"/chat/threads/{thread['id']}/messages?{query}"
    await expect_refusal(memory_client, "GET", path, 400, headers=ADA)


async def test_query_on_a_route_that_takes_none_is_400(memory_client: Client) -> None:
    thread = await create_thread(memory_client, ADA)
    await expect_refusal(
        memory_client, "GET", f"/chat/threads/{thread['id']}?x=1", 400, headers=ADA
    )
    await expect_refusal(
        memory_client, "POST", "/chat/threads?x=1", 400, headers=ADA, json={"title": "t"}
    )
    messages = f"/chat/threads/{thread['id']}/messages"
    await expect_refusal(
        memory_client, "POST", f"{messages}?x=1", 400, headers=ADA, json={"content": "hi"}
    )
    # A query string with no parameters in it is no query.
    answer = await memory_client.post(f"{messages}?&", headers=ADA, json={"content": "hi"})
    assert answer.status == 201


async def test_a_page_spliced_from_cached_json_reads_as_its_object() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    messages = tuple(
        MessageView(
            id=f"msg_{seq:x}-x",
            thread_id="th_1",
            seq=seq,
            role="user",
            content=None if seq == 2 else f'é {seq} " \\ \u2028',
            metadata={"k": "v"} if seq == 1 else {},
            author="u_ada",
            created_at=created,
            request_id="r-1",
            redacted=seq == 2,
        )
        for seq in (1, 2, 3)
    )
    thread = ThreadView(
        id="th_1",
        title=None,
        metadata={},
        created_at=created,
        created_by="u_ada",
        message_count=3,
        last_seq=3,
    )
    for page in (
        Page(data=messages, has_more=True, next="bWVzc2FnZXM6YXNjOjM"),
        Page(data=(), has_more=False, next=None),
        Page(data=(thread,), has_more=False, next=None),
    ):
        assert orjson.loads(page.json_bytes()) == page.to_json()
