"""The pipeline stamps each event with its request's context, and the log rebuilds the reads."""

from __future__ import annotations

import os
from typing import Any

from aiohttp.test_utils import TestClient

from chat_core.context import new_request_id
from chat_core.views import rfc3339
from events.envelope import Env
from events.store.base import EventStore
from tests.http.helpers import all_events, auth_headers, create_thread, fold_log, post_message
from transports.http.app_keys import CORE

Client = TestClient[Any, Any]


async def test_each_event_carries_its_requests_context(client: Client, store: EventStore) -> None:
    thread = await create_thread(
        client, auth_headers("u_ada", "t_acme", "staging", request_id="r1")
    )
    thread_path = f"/chat/threads/{thread['id']}"
    posted = await post_message(
        client, auth_headers("u_bob", "t_acme", "staging", request_id="r2"), thread["id"], "hi"
    )
    await client.delete(
        f"{thread_path}/messages/{posted['id']}",
        headers=auth_headers("u_cyd", "t_acme", "staging", request_id="r3"),
    )
    await client.put(
        "/temperature/config",
        json={"default": 1.0, "min": 0.0, "max": 2.0},
        headers=auth_headers("u_ada", "t_globex", "prod", request_id="r4"),
    )
    seen = [
        (e.event.type, e.event.tenant, e.event.env, e.event.request_id, e.event.actor)
        for e in await all_events(store)
    ]
    assert seen == [
        ("chat.thread.created", "t_acme", Env.STAGING, "r1", "u_ada"),
        ("chat.message.posted", "t_acme", Env.STAGING, "r2", "u_bob"),
        ("chat.message.redacted", "t_acme", Env.STAGING, "r3", "u_cyd"),
        ("temperature.config.changed", "t_globex", Env.PROD, "r4", "u_ada"),
    ]
    for item in await all_events(store):
        assert item.event.trace_id == item.event.request_id
        assert item.event.tenant in item.event.stream


async def test_server_made_request_id_is_the_events_and_the_echo(
    client: Client, store: EventStore
) -> None:
    response = await client.post("/chat/threads", json={}, headers=auth_headers())
    [item] = await all_events(store)
    assert item.event.request_id == response.headers["X-Request-Id"]
    assert item.event.trace_id == response.headers["X-Request-Id"]


async def _workload(client: Client) -> list[tuple[dict[str, str], str]]:
    """Write across tenants and envs; return each thread with the headers that can read it."""
    threads = []
    for user, tenant, env in [
        ("u_ada", "t_acme", "dev"),
        ("u_bob", "t_globex", "prod"),
        ("u_cyd", "t_acme", "staging"),
    ]:
        headers = auth_headers(user, tenant, env)
        for index in range(2):
            thread = await create_thread(client, headers, title=f"{tenant}-{index}")
            for seq in range(index + 2):
                message = await post_message(client, headers, thread["id"], f"m{seq}")
            await client.delete(
                f"/chat/threads/{thread['id']}/messages/{message['id']}", headers=headers
            )
            threads.append((headers, thread["id"]))
    for env in ("dev", "prod"):
        for default in (0.3, 0.6):
            response = await client.put(
                "/temperature/config",
                json={"default": default, "min": 0.1, "max": 1.0, "overrides": {"m": 0.5}},
                headers=auth_headers("u_ada", "t_globex", env),
            )
            assert response.status == 200
    return threads


async def test_replaying_the_log_rebuilds_what_the_reads_serve(
    client: Client, store: EventStore
) -> None:
    threads = await _workload(client)
    folded_threads, folded_temperatures = await fold_log(store, client.app[CORE].keys)
    assert len(folded_threads) == len(threads)
    for headers, thread_id in threads:
        stream = f"chat/{headers['X-Tenant-Id']}/{headers['X-Env']}/{thread_id}"
        state = folded_threads[stream]
        read = await client.get(f"/chat/threads/{thread_id}", headers=headers)
        assert await read.json() == state.view().to_json()
        page = await client.get(
            f"/chat/threads/{thread_id}/messages", headers=headers, params={"limit": "100"}
        )
        served = (await page.json())["data"]
        assert served == [message.view(thread_id).to_json() for message in state.recent]
    for stream, state in folded_temperatures.items():
        _, tenant, env = stream.split("/")
        served = await (
            await client.get("/temperature/config", headers=auth_headers("u_ada", tenant, env))
        ).json()
        assert state.updated_at is not None
        assert served == {
            "tenant": tenant,
            "env": env,
            "default": state.default,
            "min": state.min,
            "max": state.max,
            "overrides": dict(state.overrides),
            "version": state.version,
            "updated_at": rfc3339(state.updated_at),
            "updated_by": state.updated_by,
        }


def test_a_forked_child_makes_other_request_ids_than_its_parent() -> None:
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the child: write its ids and leave at once
        os.close(reading)
        os.write(writing, " ".join(new_request_id() for _ in range(4)).encode())
        os._exit(0)
    os.close(writing)
    parent_ids = {new_request_id() for _ in range(4)}
    with os.fdopen(reading) as pipe:
        child_ids = set(pipe.read().split())
    os.waitpid(child, 0)
    assert len(child_ids) == 4
    assert not child_ids & parent_ids
