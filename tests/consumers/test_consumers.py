"""Durable consumers over HTTP: create, list, read after the checkpoint, ack forward, delete."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.consumers.conftest import serve
from tests.http.helpers import (
    auth_headers,
    create_thread,
    expect_refusal,
    post_message,
    problem_of,
)
from transports.http.app_keys import CORE

Client = TestClient[Any, Any]
ADMIN = auth_headers("u_cyd", "t_acme")  # admin of t_acme
MEMBER = auth_headers("u_ada", "t_acme")  # member of t_acme
GLOBEX = auth_headers("u_ada", "t_globex")  # admin of t_globex
STAGING = auth_headers("u_cyd", "t_acme", "staging")


async def _create(client: Client, name: str, **body: Any) -> dict[str, Any]:
    response = await client.post("/admin/consumers", json={"name": name, **body}, headers=ADMIN)
    assert response.status == 201, await response.text()
    consumer: dict[str, Any] = await response.json()
    return consumer


async def _read(client: Client, name: str, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/admin/consumers/{name}/events{query}", headers=ADMIN)
    assert response.status == 200, await response.text()
    batch: dict[str, Any] = await response.json()
    return batch


async def _ack(client: Client, name: str, position: int) -> dict[str, Any]:
    response = await client.post(
        f"/admin/consumers/{name}/ack", json={"position": position}, headers=ADMIN
    )
    assert response.status == 200, await response.text()
    consumer: dict[str, Any] = await response.json()
    return consumer


async def _conversation(client: Client, *contents: str) -> str:
    thread = await create_thread(client, ADMIN)
    for content in contents:
        await post_message(client, ADMIN, thread["id"], content)
    return str(thread["id"])


async def test_a_new_consumer_starts_at_the_beginning_with_the_tenants_events_as_lag(
    client: Client,
) -> None:
    await _conversation(client, "one", "two")
    await create_thread(client, GLOBEX)  # another tenant's event is not its lag
    consumer = await _create(client, "billing")
    assert consumer["name"] == "billing"
    assert consumer["types"] == []
    assert (consumer["position"], consumer["lag"]) == (0, 3)
    assert consumer["created_at"].endswith("Z")


async def test_a_consumer_started_at_the_end_has_no_lag(client: Client) -> None:
    await _conversation(client, "one")
    consumer = await _create(client, "late", start="end")
    assert consumer["position"] == await client.app[CORE].store.head_position()
    assert consumer["lag"] == 0


async def test_the_same_name_again_is_a_conflict_that_changes_nothing(client: Client) -> None:
    await _create(client, "billing", types=["chat.thread.created"])
    response = await client.post(
        "/admin/consumers", json={"name": "billing", "start": "end"}, headers=ADMIN
    )
    await problem_of(response, 409)
    shown = await (await client.get("/admin/consumers/billing", headers=ADMIN)).json()
    assert shown["types"] == ["chat.thread.created"]


async def test_the_same_name_in_another_tenant_or_env_is_another_consumer(client: Client) -> None:
    await _create(client, "billing")
    for headers in (GLOBEX, STAGING):
        response = await client.post("/admin/consumers", json={"name": "billing"}, headers=headers)
        assert response.status == 201
    listed = await (await client.get("/admin/consumers", headers=ADMIN)).json()
    assert [c["name"] for c in listed["data"]] == ["billing"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Billing"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "b" * 64}, "name"),
        ({"name": "ok", "types": ["chat.nothing"]}, "types"),
        ({"name": "ok", "types": "chat.thread.created"}, "types"),
        ({"name": "ok", "types": None}, "types"),
        ({"name": "ok", "start": "middle"}, "start"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({"types": []}, "name"),
    ],
)
async def test_a_bad_body_is_422_naming_the_field_and_makes_no_consumer(
    client: Client, body: dict[str, Any], field: str
) -> None:
    _, problem = await expect_refusal(
        client, "POST", "/admin/consumers", 422, json=body, headers=ADMIN
    )
    assert field in [error["field"] for error in problem["errors"]]
    listed = await (await client.get("/admin/consumers", headers=ADMIN)).json()
    assert listed["data"] == []


async def test_members_may_not_touch_consumers(client: Client) -> None:
    await _create(client, "billing")
    await expect_refusal(
        client, "POST", "/admin/consumers", 403, json={"name": "mine"}, headers=MEMBER
    )
    for method, path in (
        ("GET", "/admin/consumers"),
        ("GET", "/admin/consumers/billing"),
        ("GET", "/admin/consumers/billing/events"),
        ("DELETE", "/admin/consumers/billing"),
    ):
        await expect_refusal(client, method, path, 403, headers=MEMBER)
    await expect_refusal(
        client, "POST", "/admin/consumers/billing/ack", 403, json={"position": 0}, headers=MEMBER
    )


async def test_another_tenants_consumer_is_not_found(client: Client) -> None:
    await _create(client, "billing")
    for path in ("/admin/consumers/billing", "/admin/consumers/billing/events"):
        await problem_of(await client.get(path, headers=GLOBEX), 404)
    response = await client.post(
        "/admin/consumers/billing/ack", json={"position": 0}, headers=STAGING
    )
    await problem_of(response, 404)
    await problem_of(await client.delete("/admin/consumers/billing", headers=GLOBEX), 404)


async def test_a_read_gives_the_consumers_events_in_order_in_the_stream_shape(
    client: Client,
) -> None:
    thread_id = await _conversation(client, "one", "two")
    await create_thread(client, GLOBEX)
    await _create(client, "index")
    batch = await _read(client, "index")
    events = batch["data"]
    assert [e["type"] for e in events] == [
        "chat.thread.created",
        "chat.message.posted",
        "chat.message.posted",
    ]
    assert {(e["tenant"], e["env"]) for e in events} == {("t_acme", "dev")}
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert batch["next_position"] == positions[-1]
    assert events[1]["data"]["content"] == "one"
    assert events[1]["data"]["thread_id"] == thread_id
    assert {"version", "event_id", "request_id", "occurred_at"} <= events[0].keys()


async def test_a_private_thread_s_events_reach_no_consumer(client: Client) -> None:
    # Its admin is outside the thread: to them it is a 404, and so to their consumer.
    await _create(client, "evals")
    hidden = await create_thread(client, MEMBER, title="hidden plans", visibility="private")
    await post_message(client, MEMBER, hidden["id"], "private words")
    shared = await _conversation(client, "shared words")
    batch = await _read(client, "evals")
    assert {e["data"]["thread_id"] for e in batch["data"]} == {shared}
    assert "private words" not in str(batch) and "hidden plans" not in str(batch)
    # The checkpoint passes the withheld events all the same.
    assert batch["next_position"] == await client.app[CORE].store.head_position()


async def test_types_limit_what_a_consumer_sees(client: Client) -> None:
    await _conversation(client, "one", "two")
    consumer = await _create(client, "posts", types=["chat.message.posted"])
    assert consumer["lag"] == 2
    batch = await _read(client, "posts")
    assert [e["data"]["content"] for e in batch["data"]] == ["one", "two"]


async def test_limit_pages_through_and_ack_moves_the_read_on(client: Client) -> None:
    await _conversation(client, "a", "b", "c", "d")
    await _create(client, "index")
    seen: list[str] = []
    while True:
        batch = await _read(client, "index", "?limit=2")
        if not batch["data"]:
            break
        assert len(batch["data"]) <= 2
        seen += [e["type"] for e in batch["data"]]
        acked = await _ack(client, "index", batch["next_position"])
        assert acked["position"] == batch["next_position"]
    assert len(seen) == 5
    shown = await (await client.get("/admin/consumers/index", headers=ADMIN)).json()
    assert shown["lag"] == 0


async def test_a_read_without_an_ack_gives_the_same_events_again(client: Client) -> None:
    await _conversation(client, "a")
    await _create(client, "index")
    first, again = await _read(client, "index"), await _read(client, "index")
    assert first == again


async def test_an_ack_only_moves_forward(client: Client) -> None:
    await _conversation(client, "a", "b")
    await _create(client, "index")
    head = (await _read(client, "index"))["next_position"]
    assert (await _ack(client, "index", head))["position"] == head
    assert await _ack(client, "index", 1) == {"name": "index", "position": head}
    shown = await (await client.get("/admin/consumers/index", headers=ADMIN)).json()
    assert (shown["position"], shown["lag"]) == (head, 0)


async def test_an_ack_past_the_end_is_422_and_leaves_the_checkpoint(client: Client) -> None:
    await _conversation(client, "a")
    await _create(client, "index")
    head = (await _read(client, "index"))["next_position"]
    response = await client.post(
        "/admin/consumers/index/ack", json={"position": head + 1}, headers=ADMIN
    )
    problem = await problem_of(response, 422)
    assert problem["errors"][0]["field"] == "position"
    shown = await (await client.get("/admin/consumers/index", headers=ADMIN)).json()
    assert shown["position"] == 0


@pytest.mark.parametrize(
    "body", [{"position": -1}, {"position": 1.5}, {"position": "1"}, {"position": True}, {}]
)
async def test_a_bad_ack_is_422(client: Client, body: dict[str, Any]) -> None:
    await _create(client, "index")
    response = await client.post("/admin/consumers/index/ack", json=body, headers=ADMIN)
    await problem_of(response, 422)


async def test_an_ack_for_an_unknown_consumer_is_404(client: Client) -> None:
    response = await client.post("/admin/consumers/nobody/ack", json={"position": 0}, headers=ADMIN)
    await problem_of(response, 404)


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=1001",
        "?limit=x",
        "?wait=31",
        "?wait=-1",
        "?wait=1.5",
        "?after=3",
        "?limit=1&limit=2",
    ],
)
async def test_a_bad_read_query_is_400(client: Client, query: str) -> None:
    await _create(client, "index")
    response = await client.get(f"/admin/consumers/index/events{query}", headers=ADMIN)
    await problem_of(response, 400)


async def test_a_read_of_an_unknown_consumer_is_404(client: Client) -> None:
    await problem_of(await client.get("/admin/consumers/nobody/events", headers=ADMIN), 404)


async def test_a_waiting_read_returns_when_an_event_arrives(client: Client) -> None:
    thread_id = await _conversation(client)
    await _create(client, "live", start="end")
    waiting = asyncio.create_task(_read(client, "live", "?wait=20"))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await post_message(client, ADMIN, thread_id, "hello")
    batch = await asyncio.wait_for(waiting, 10)
    assert [e["data"]["content"] for e in batch["data"]] == ["hello"]


async def test_a_waiting_read_ignores_other_tenants_and_types_then_gives_up_empty(
    client: Client,
) -> None:
    await _create(client, "posts", types=["chat.message.posted"], start="end")
    waiting = asyncio.create_task(_read(client, "posts", "?wait=1"))
    await create_thread(client, GLOBEX)
    await create_thread(client, ADMIN)  # its type is not wanted
    batch = await asyncio.wait_for(waiting, 10)
    assert batch["data"] == []
    assert batch["next_position"] == 0  # nothing of its own: the checkpoint stands


async def test_a_deleted_consumer_is_gone(client: Client) -> None:
    await _create(client, "index")
    response = await client.delete("/admin/consumers/index", headers=ADMIN)
    assert response.status == 204
    await problem_of(await client.get("/admin/consumers/index", headers=ADMIN), 404)
    await problem_of(await client.delete("/admin/consumers/index", headers=ADMIN), 404)
    await _create(client, "index")  # the name is free again


async def test_a_checkpoint_survives_a_restart_on_sqlite(
    aiohttp_client: Any, sqlite_url: str
) -> None:
    first = await serve(aiohttp_client, sqlite_url)
    await _conversation(first, "a", "b")
    await _create(first, "index", types=["chat.message.posted"])
    batch = await _read(first, "index", "?limit=1")
    await _ack(first, "index", batch["next_position"])
    await first.close()
    second = await serve(aiohttp_client, sqlite_url)
    shown = await (await second.get("/admin/consumers/index", headers=ADMIN)).json()
    assert (shown["position"], shown["lag"], shown["types"]) == (
        batch["next_position"],
        1,
        ["chat.message.posted"],
    )
    rest = await _read(second, "index")
    assert [e["data"]["content"] for e in rest["data"]] == ["b"]


async def test_a_redacted_or_erased_message_reads_withdrawn(client: Client) -> None:
    thread_id = await _conversation(client)
    kept = await post_message(client, ADMIN, thread_id, "kept")
    gone = await post_message(client, ADMIN, thread_id, "redacted later")
    await post_message(client, MEMBER, thread_id, "erased later")
    response = await client.delete(
        f"/chat/threads/{thread_id}/messages/{gone['id']}", headers=ADMIN
    )
    assert response.status == 204
    response = await client.post("/admin/erasures", json={"subject": "u_ada"}, headers=ADMIN)
    assert response.status == 202
    await _create(client, "index", types=["chat.message.posted"])
    shown = [
        (e["data"]["content"], e["data"]["redacted"], e["data"]["erased"])
        for e in (await _read(client, "index"))["data"]
    ]
    assert shown == [("kept", False, False), (None, True, False), (None, False, True)]
    assert kept["content"] == "kept"
