"""A context header sent twice is 400 naming it: a proxy taking the last could disagree."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from events.store.base import EventStore
from tests.http.helpers import auth_headers, create_thread, problem_of, token

Client = TestClient[Any, Any]


def _twice(name: str, first: str, second: str) -> CIMultiDict[str]:
    headers = CIMultiDict(auth_headers(request_id="dup-1"))
    headers.popall(name, None)
    headers.add(name, first)
    headers.add(name, second)
    return headers


CASES = {
    "X-Tenant-Id": ("t_acme", "t_globex"),
    "X-Env": ("dev", "prod"),
    "Authorization": (f"Bearer {token('u_ada')}", f"Bearer {token('u_bob')}"),
    "Idempotency-Key": ("k-1", "k-2"),
    "X-Request-Id": ("dup-1", "dup-2"),
}


@pytest.mark.parametrize("name", CASES)
async def test_a_header_sent_twice_is_400_naming_it(
    client: Client, store: EventStore, name: str
) -> None:
    thread = await create_thread(client, auth_headers())
    head = await store.head_position()
    path = f"/chat/threads/{thread['id']}/messages"
    response = await client.post(path, json={"content": "hi"}, headers=_twice(name, *CASES[name]))
    problem = await problem_of(response, 400)
    assert name in problem["detail"]
    assert await store.head_position() == head


@pytest.mark.parametrize("name", ["X-Tenant-Id", "X-Env", "Authorization", "X-Request-Id"])
async def test_the_same_value_twice_is_400_too(client: Client, name: str) -> None:
    value = auth_headers(request_id="dup-1")[name]
    response = await client.get("/chat/threads", headers=_twice(name, value, value))
    problem = await problem_of(response, 400)
    assert name in problem["detail"]


async def test_a_duplicate_context_header_on_a_public_route_is_ignored(client: Client) -> None:
    response = await client.get("/healthz", headers=_twice("X-Tenant-Id", "t_acme", "t_globex"))
    assert response.status == 200
