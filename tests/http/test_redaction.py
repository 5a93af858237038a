"""DELETE a message: who may, what reads show afterwards, and that a repeat changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from events.store.base import EventStore
from tests.http.helpers import auth_headers, create_thread, expect_refusal, post_message

Client = TestClient[Any, Any]
AUTHOR = auth_headers("u_bob", "t_acme")


async def _message(client: Client) -> tuple[str, dict[str, Any]]:
    thread = await create_thread(client, AUTHOR)
    message = await post_message(client, AUTHOR, thread["id"], "regrettable")
    await post_message(client, AUTHOR, thread["id"], "fine")
    return f"/chat/threads/{thread['id']}/messages", message


@pytest.mark.parametrize("redactor", ["u_bob", "u_cyd"], ids=["author", "admin"])
async def test_author_or_admin_redacts_and_reads_show_it(
    client: Client, store: EventStore, redactor: str
) -> None:
    path, message = await _message(client)
    head = await store.head_position()
    response = await client.delete(
        f"{path}/{message['id']}", headers=auth_headers(redactor, "t_acme")
    )
    assert response.status == 204
    assert await store.head_position() == head + 1
    page = await (await client.get(path, headers=AUTHOR)).json()
    redacted, kept = page["data"]
    assert redacted["id"] == message["id"]
    assert (redacted["redacted"], redacted["content"], redacted["metadata"]) == (True, None, {})
    assert (redacted["seq"], redacted["author"]) == (1, "u_bob")
    assert (kept["redacted"], kept["content"]) == (False, "fine")


async def test_other_member_may_not_redact(client: Client) -> None:
    path, message = await _message(client)
    other = auth_headers("u_ada", "t_acme")
    await expect_refusal(client, "DELETE", f"{path}/{message['id']}", 403, headers=other)
    page = await (await client.get(path, headers=other)).json()
    assert page["data"][0]["content"] == "regrettable"


async def test_repeated_redaction_is_204_and_appends_nothing(
    client: Client, store: EventStore
) -> None:
    path, message = await _message(client)
    first = await client.delete(f"{path}/{message['id']}", headers=AUTHOR)
    assert first.status == 204
    head = await store.head_position()
    again = await client.delete(f"{path}/{message['id']}", headers=AUTHOR)
    assert again.status == 204
    assert "X-Request-Id" in again.headers
    assert await store.head_position() == head


async def test_redaction_keeps_seq_and_counts(memory_client: Client) -> None:
    path, message = await _message(memory_client)
    await memory_client.delete(f"{path}/{message['id']}", headers=AUTHOR)
    thread_path = path.removesuffix("/messages")
    thread = await (await memory_client.get(thread_path, headers=AUTHOR)).json()
    assert (thread["message_count"], thread["last_seq"]) == (2, 2)
    third = await post_message(memory_client, AUTHOR, thread["id"], "after")
    assert third["seq"] == 3
