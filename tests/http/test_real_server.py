"""The app behind a real aiohttp server on a loopback port, reached by a plain ClientSession."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tests.http.helpers import auth_headers, build_app
from transports.http.app_keys import CORE


@pytest.fixture
async def base_url(store_url: str) -> AsyncIterator[tuple[str, web.Application]]:
    """Serve the app on 127.0.0.1 at a free port; yield its base URL and the app."""
    app = await build_app(store_url=store_url)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


async def test_a_conversation_over_a_real_socket(base_url: tuple[str, web.Application]) -> None:
    url, app = base_url
    headers = auth_headers(request_id="real-1")
    async with aiohttp.ClientSession(url) as session:
        async with session.post("/chat/threads", json={"title": "t"}, headers=headers) as created:
            assert created.status == 201
            assert created.headers["X-Request-Id"] == "real-1"
            thread = await created.json()
        path = f"/chat/threads/{thread['id']}/messages"
        for content in ("one", "two"):
            async with session.post(path, json={"content": content}, headers=headers) as posted:
                assert posted.status == 201
        async with session.get(path, headers=headers, params={"order": "desc"}) as page:
            assert [m["seq"] for m in (await page.json())["data"]] == [2, 1]
    assert await app[CORE].store.head_position() == 3


async def test_refusals_over_a_real_socket(base_url: tuple[str, web.Application]) -> None:
    url, app = base_url
    async with aiohttp.ClientSession(url) as session:
        async with session.post("/chat/threads", json={}) as anonymous:
            assert anonymous.status == 401
            assert anonymous.headers["WWW-Authenticate"] == "Bearer"
            assert anonymous.content_type == "application/problem+json"
        outsider = auth_headers("u_eve", "t_acme")
        async with session.post("/chat/threads", json={}, headers=outsider) as forbidden:
            assert forbidden.status == 403
        async with session.get("/healthz") as health:
            assert health.status == 200
    assert await app[CORE].store.head_position() == 0
