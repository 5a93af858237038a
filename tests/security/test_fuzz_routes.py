"""Generated bad input against every route: never a 5xx, always problem+json, still serving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from multidict import CIMultiDictProxy
from yarl import URL

from tests.http.helpers import SyncApp, auth_headers
from tests.security.strategies import hostile_requests, route_shapes

TIMEOUT = aiohttp.ClientTimeout(total=10)


@pytest.fixture(scope="module")
def app() -> Iterator[SyncApp]:
    running = SyncApp()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def known_ids(app: SyncApp) -> list[str]:
    """Open a thread with a message in t_acme, so generated paths can name real ids."""
    headers = auth_headers("u_ada", "t_acme")
    thread = app.request("POST", "/chat/threads", json={"title": "fuzz"}, headers=headers).json()
    path = f"/chat/threads/{thread['id']}/messages"
    message = app.request("POST", path, json={"content": "hello"}, headers=headers).json()
    return [thread["id"], message["id"]]


def test_the_router_walk_finds_every_route(app: SyncApp) -> None:
    shapes = {repr(shape) for shape in route_shapes(app.client.app)}
    assert "POST /chat/threads/{thread_id}/messages" in shapes
    assert "DELETE /chat/threads/{thread_id}/messages/{message_id}" in shapes
    assert "PUT /temperature/config" in shapes
    assert "GET /chat/ws" in shapes
    assert "GET /chat/threads/{thread_id}/events" in shapes


@given(data=st.data())
def test_hostile_request_never_gets_a_5xx(
    app: SyncApp, known_ids: list[str], data: st.DataObject
) -> None:
    request = data.draw(hostile_requests(route_shapes(app.client.app), known_ids))
    url = URL(request.pop("url"), encoded=True)
    status, headers, body = app.run(_exchange(app, request.pop("method"), url, request))
    event(f"status {status}")
    assert status < 500, (status, body[:300])
    if status >= 400:
        assert headers["Content-Type"].startswith("application/problem+json")
        assert "X-Request-Id" in headers


async def _exchange(
    app: SyncApp, method: str, url: URL, request: dict[str, Any]
) -> tuple[int, CIMultiDictProxy[str], bytes]:
    """Make the request; a live event stream that opened is left unread, not waited on."""
    async with app.client.request(method, url, timeout=TIMEOUT, **request) as response:
        if response.content_type == "text/event-stream" and response.status == 200:
            return response.status, response.headers, b""
        return response.status, response.headers, await response.read()


def test_the_server_keeps_serving_after_the_fuzz(app: SyncApp) -> None:
    assert app.request("GET", "/healthz").status == 200
    created = app.request("POST", "/chat/threads", json={"title": "after"}, headers=auth_headers())
    assert created.status == 201
