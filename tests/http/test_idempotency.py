"""Idempotency-Key: replays, mismatches, scopes, refusals, and a replay after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from events.store.base import EventStore
from tests.http.conftest import ClientFactory
from tests.http.helpers import auth_headers, create_thread, expect_refusal
from transports.http.app_keys import CORE

Client = TestClient[Any, Any]
ADA = auth_headers("u_ada", "t_acme")


def _keyed(key: str, headers: dict[str, str] = ADA) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_same_key_and_body_replays_and_appends_nothing(
    client: Client, store: EventStore
) -> None:
    thread = await create_thread(client, ADA)
    path = f"/chat/threads/{thread['id']}/messages"
    first = await client.post(path, json={"content": "once"}, headers=_keyed("k-1"))
    assert first.status == 201
    assert "Idempotent-Replayed" not in first.headers
    body = await first.read()
    head = await store.head_position()
    for _ in range(3):
        again = await client.post(path, json={"content": "once"}, headers=_keyed("k-1"))
        assert again.status == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert "X-Request-Id" in again.headers
        assert await again.read() == body
    assert await store.head_position() == head
    page = await (await client.get(path, headers=ADA)).json()
    assert [message["content"] for message in page["data"]] == ["once"]


async def test_thread_creation_replays(client: Client, store: EventStore) -> None:
    first = await client.post("/chat/threads", json={"title": "t"}, headers=_keyed("c-1"))
    head = await store.head_position()
    again = await client.post("/chat/threads", json={"title": "t"}, headers=_keyed("c-1"))
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json()
    assert await store.head_position() == head


@pytest.mark.parametrize(
    ("path", "body"),
    [("/chat/threads", {"title": "other"}), ("/chat/threads?", {"title": "t", "metadata": {}})],
)
async def test_same_key_other_request_is_422(client: Client, path: str, body: Any) -> None:
    first = await client.post("/chat/threads", json={"title": "t"}, headers=_keyed("c-2"))
    assert first.status == 201
    await expect_refusal(client, "POST", path, 422, headers=_keyed("c-2"), json=body)


async def test_same_key_on_another_route_is_422(memory_client: Client) -> None:
    thread = await create_thread(memory_client, _keyed("shared"), title="t")
    path = f"/chat/threads/{thread['id']}/messages"
    await expect_refusal(memory_client, "POST", path, 422, headers=_keyed("shared"), json={})


async def test_keys_are_scoped_by_tenant_env_and_subject(
    memory_client: Client, memory_store: EventStore
) -> None:
    scopes = [
        auth_headers("u_ada", "t_acme"),
        auth_headers("u_ada", "t_globex"),
        auth_headers("u_ada", "t_acme", env="prod"),
        auth_headers("u_bob", "t_acme"),
    ]
    ids = set()
    for headers in scopes:
        response = await memory_client.post(
            "/chat/threads", json={"title": "same"}, headers=_keyed("scoped", headers)
        )
        assert response.status == 201
        assert "Idempotent-Replayed" not in response.headers
        ids.add((await response.json())["id"])
    assert len(ids) == len(scopes)
    assert await memory_store.head_position() == len(scopes)


async def test_refused_request_is_not_recorded_and_may_be_retried(client: Client) -> None:
    thread = await create_thread(client, ADA)
    path = f"/chat/threads/{thread['id']}/messages"
    await expect_refusal(client, "POST", path, 422, headers=_keyed("r-1"), json={"content": ""})
    outsider = _keyed("r-2", auth_headers("u_ada", "t_acme", env="prod"))
    await expect_refusal(client, "POST", path, 404, headers=outsider, json={"content": "x"})
    retry = await client.post(path, json={"content": ""}, headers=_keyed("r-1"))
    assert retry.status == 422
    fixed = await client.post(path, json={"content": "now"}, headers=_keyed("r-1"))
    assert fixed.status == 201
    assert "Idempotent-Replayed" not in fixed.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_malformed_key_is_400(memory_client: Client, key: str) -> None:
    headers = {**ADA, "Idempotency-Key": key.encode("utf-8").decode("latin-1")}
    await expect_refusal(memory_client, "POST", "/chat/threads", 400, headers=headers, json={})


async def test_replay_survives_a_restart_on_a_sqlite_file(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    store_url = f"sqlite:///{tmp_path / 'restart.db'}"
    first_client = await make_client(store_url=store_url)
    thread = await create_thread(first_client, ADA)
    path = f"/chat/threads/{thread['id']}/messages"
    first = await first_client.post(path, json={"content": "durable"}, headers=_keyed("k-r"))
    assert first.status == 201
    first_body = await first.read()
    await first_client.close()

    second_client = await make_client(store_url=store_url)
    store = second_client.app[CORE].store
    head = await store.head_position()
    assert head == 2
    again = await second_client.post(path, json={"content": "durable"}, headers=_keyed("k-r"))
    assert again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await again.read() == first_body
    assert await store.head_position() == head
    other = await second_client.post(path, json={"content": "changed"}, headers=_keyed("k-r"))
    assert other.status == 422
    page = await (await second_client.get(path, headers=ADA)).json()
    assert [message["content"] for message in page["data"]] == ["durable"]
