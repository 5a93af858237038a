"""Requests the search tests make: threads, posts, searches, redactions and erasures."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.branches.helpers import headers_of

Client = TestClient[Any, Any]

MEMBER, OTHER, AGENT, ADMIN = (
    headers_of("member"),
    headers_of("member2"),
    headers_of("agent"),
    headers_of("admin"),
)


async def new_thread(client: Client, *, headers: dict[str, str] | None = None, **body: Any) -> str:
    """Create a thread and return its id."""
    response = await client.post("/chat/threads", json=body, headers=headers or MEMBER)
    assert response.status == 201, await response.text()
    thread_id: str = (await response.json())["id"]
    return thread_id


async def post(
    client: Client, thread_id: str, content: str, *, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Post a user message and return it."""
    response = await client.post(
        f"/chat/threads/{thread_id}/messages",
        json={"content": content},
        headers=headers or MEMBER,
    )
    assert response.status == 201, await response.text()
    message: dict[str, Any] = await response.json()
    return message


async def search(
    client: Client, q: str, *, headers: dict[str, str] | None = None, **query: str
) -> dict[str, Any]:
    """Return the first page of a search, which must answer 200."""
    response = await client.get("/chat/search", params={"q": q, **query}, headers=headers or MEMBER)
    assert response.status == 200, await response.text()
    page: dict[str, Any] = await response.json()
    return page


async def found(
    client: Client, q: str, *, headers: dict[str, str] | None = None, **query: str
) -> list[str]:
    """Return the content of every hit of a search, following its pages."""
    contents: list[str] = []
    after: str | None = None
    while True:
        params = dict(query) if after is None else {**query, "after": after}
        page = await search(client, q, headers=headers, **params)
        contents += [hit["message"]["content"] for hit in page["data"]]
        if not page["has_more"]:
            assert page["next"] is None
            return contents
        after = page["next"]
