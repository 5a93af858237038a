"""Stream tickets live in the log's database: any instance on it redeems one, once.

Two servers on one PostgreSQL database stand for instances behind a load balancer without
sticky sessions. SQLite allows one server per file, so there the table is shared by a
server and its restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from events.store.sqlite_lock import FileServed, serving_lock
from tests.http.helpers import auth_headers, create_thread, problem_of
from tests.pg import fresh_database
from tests.streams.helpers import build_stream_app, read_sse, ticket_for

Client = TestClient[Any, Any]


@pytest.fixture
async def two_instances(aiohttp_client: Any) -> AsyncIterator[tuple[Client, Client]]:
    """Yield clients of two servers, each its own core, on one fresh PostgreSQL database."""
    async with fresh_database() as url:
        first = await aiohttp_client(await build_stream_app(store_url=url, tickets_per_caller=3))
        second = await aiohttp_client(await build_stream_app(store_url=url, tickets_per_caller=3))
        yield first, second
        await first.close()
        await second.close()


async def _opens(client: Client, thread_id: str, ticket: str) -> int:
    """Open the thread's stream with the ticket; return the status (reading one event on 200)."""
    path = f"/chat/threads/{thread_id}/events"
    async with client.get(path, params={"ticket": ticket}) as response:
        if response.status == 200:
            await read_sse(response, 1)
        else:
            await problem_of(response, 401)
        return response.status


async def test_a_ticket_issued_by_one_instance_opens_a_stream_on_another_once(
    two_instances: tuple[Client, Client],
) -> None:
    first, second = two_instances
    headers = auth_headers()
    thread = await create_thread(first, headers)
    ticket = await ticket_for(first, headers, thread["id"])
    assert await _opens(second, thread["id"], ticket) == 200
    assert await _opens(second, thread["id"], ticket) == 401
    assert await _opens(first, thread["id"], ticket) == 401


async def test_two_instances_redeeming_one_ticket_at_once_let_one_in(
    two_instances: tuple[Client, Client],
) -> None:
    first, second = two_instances
    headers = auth_headers()
    thread = await create_thread(first, headers)
    for _ in range(5):
        ticket = await ticket_for(second, headers, thread["id"])
        statuses = await asyncio.gather(
            _opens(first, thread["id"], ticket), _opens(second, thread["id"], ticket)
        )
        assert sorted(statuses) == [200, 401]


async def test_the_caller_quota_counts_the_tickets_of_every_instance(
    two_instances: tuple[Client, Client],
) -> None:
    first, second = two_instances
    headers = auth_headers()
    await ticket_for(first, headers)
    await ticket_for(second, headers)
    await ticket_for(first, headers)
    refused = await second.post("/chat/stream-tickets", headers=headers)
    problem = await problem_of(refused, 429)
    assert "per-caller quota" in problem["detail"]
    assert refused.headers["Retry-After"].isdigit()


async def test_a_sqlite_ticket_outlives_a_restart_and_a_second_server_is_refused(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    path = str(tmp_path / "chat.db")
    url = f"sqlite:///{path}"
    headers = auth_headers()
    with serving_lock(path):
        with pytest.raises(FileServed), serving_lock(path):
            pass
        first = await aiohttp_client(await build_stream_app(store_url=url))
        thread = await create_thread(first, headers)
        ticket = await ticket_for(first, headers, thread["id"])
        await first.close()
    restarted = await aiohttp_client(await build_stream_app(store_url=url))
    assert await _opens(restarted, thread["id"], ticket) == 200
    assert await _opens(restarted, thread["id"], ticket) == 401
