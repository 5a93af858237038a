"""Requests the branch tests make: posts with a parent, children, paths, forks and ratings."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, token

Client = TestClient[Any, Any]


def headers_of(who: str, tenant: str = "t_acme", env: str = "dev") -> dict[str, str]:
    """Return the headers of a caller named u_<who> holding the role <who> in tenant."""
    role = who.rstrip("0123456789")
    return auth_headers(
        f"u_{who}", tenant=tenant, env=env, bearer=token(f"u_{who}", {tenant: [role]})
    )


MEMBER, AGENT, ADMIN = headers_of("member"), headers_of("agent"), headers_of("admin")


async def post(
    client: Client,
    thread_id: str,
    content: str,
    *,
    parent_id: str | None = None,
    role: str = "user",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Post a message (under a parent when one is named) and return it."""
    body: dict[str, Any] = {"content": content, "role": role}
    if parent_id is not None:
        body["parent_id"] = parent_id
    who = headers or (AGENT if role != "user" else MEMBER)
    response = await client.post(f"/chat/threads/{thread_id}/messages", json=body, headers=who)
    assert response.status == 201, await response.text()
    message: dict[str, Any] = await response.json()
    return message


async def pages(
    client: Client, path: str, headers: dict[str, str] | None = None, **query: str
) -> list[dict[str, Any]]:
    """Follow a listing's cursors to its end and return every item."""
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = dict(query) if after is None else {**query, "after": after}
        response = await client.get(path, params=params, headers=headers or MEMBER)
        assert response.status == 200, await response.text()
        page = await response.json()
        items += page["data"]
        if not page["has_more"]:
            assert page["next"] is None
            return items
        after = page["next"]


async def children(client: Client, thread_id: str, parent_id: str, **query: str) -> list[Any]:
    """Return every child of a message, following the pages."""
    path = f"/chat/threads/{thread_id}/messages"
    return await pages(client, path, parent_id=parent_id, **query)


async def path_of(client: Client, thread_id: str, message_id: str, **query: str) -> list[Any]:
    """Return the messages from the root to a message, following the pages."""
    return await pages(client, f"/chat/threads/{thread_id}/messages/{message_id}/path", **query)
