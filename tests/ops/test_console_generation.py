"""The dev console shows a reply growing live, with a Stop button, in headless Chromium.

An agent streams a reply over HTTP while the page is open: the message's text grows chunk
by chunk, in order and never doubled, under a "writing…" state; Stop cancels it for good
with the text so far kept; a reload mid-reply shows the text so far and goes on growing.
Needs Debian's `chromium` (see tests/ops/browser.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from chat_core.bootstrap import bootstrap
from tests.http.helpers import auth_headers, settings, token
from tests.ops.browser import chromium
from transports.http.app import create_app

Client = TestClient[Any, Any]

READER = token("u_ada")
AGENT = auth_headers("u_bot", bearer=token("u_bot", {"t_acme": ["agent"]}))
# A character outside the BMP: one code point for the server's `length`, two UTF-16 units.
CHUNKS = ["Once ", "upon a time ", "🦜 ", "a reply ", "grew, ", "piece by piece."]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[TestServer]:
    """Serve the real app in dev mode on a loopback port, over a SQLite file."""
    core = await bootstrap(settings=settings(store_url=f"sqlite:///{tmp_path / 'chat.db'}"))
    test_server = TestServer(create_app(core), host="127.0.0.1")
    await test_server.start_server(access_log=None)
    yield test_server
    await test_server.close()


@pytest.fixture
async def api(server: TestServer, aiohttp_client: Any) -> Client:
    """Return an HTTP client of the same server, for the agent's side."""
    client: Client = await aiohttp_client(server)
    return client


@pytest.fixture
async def page(server: TestServer) -> AsyncIterator[Any]:
    """Yield a console page connected as a member of t_acme, with a new thread open and live."""
    from playwright.async_api import expect

    async with chromium() as browser:
        opened = await browser.new_page(viewport={"width": 1100, "height": 720})
        errors: list[str] = []
        opened.on("pageerror", lambda error: errors.append(str(error)))
        await opened.goto(str(server.make_url("/")))
        await opened.fill("#token", READER)
        await opened.fill("#tenant", "t_acme")
        await opened.select_option("#env", "dev")
        await opened.click("#connect")
        await expect(opened.locator("#status")).to_contain_text("Connected to t_acme / dev")
        await opened.fill("#thread-title", "Replies")
        await opened.click("#new-thread button")
        await expect(opened.locator("#live")).to_have_text("● live")
        yield opened
        assert errors == []


async def _thread_id(page: Any) -> str:
    thread_id = await page.locator("#threads li.selected").get_attribute("data-thread-id")
    assert thread_id is not None
    return str(thread_id)


async def _start(api: Client, thread_id: str) -> str:
    response = await api.post(
        f"/chat/threads/{thread_id}/messages",
        json={"role": "assistant", "status": "in_progress", "model": "m"},
        headers=AGENT,
    )
    assert response.status == 201, await response.text()
    message_id: str = (await response.json())["id"]
    return message_id


async def _step(api: Client, thread_id: str, message_id: str, step: str, body: Any) -> int:
    response = await api.post(
        f"/chat/threads/{thread_id}/messages/{message_id}/{step}", json=body, headers=AGENT
    )
    return response.status


async def _stream(api: Client, thread_id: str, message_id: str, page: Any, indexes: range) -> None:
    """Append the chunks at indexes, each time waiting for the page to show exactly the text."""
    from playwright.async_api import expect

    content = _reply(page, message_id).locator(".content")
    for index in indexes:
        body = {"index": index, "content": CHUNKS[index]}
        assert await _step(api, thread_id, message_id, "chunks", body) == 200
        await expect(content).to_have_text("".join(CHUNKS[: index + 1]))


def _reply(page: Any, message_id: str) -> Any:
    return page.locator(f'#messages li[data-message-id="{message_id}"]')


async def _read(api: Client, thread_id: str, message_id: str) -> dict[str, Any]:
    response = await api.get(f"/chat/threads/{thread_id}/messages?limit=100", headers=AGENT)
    assert response.status == 200
    found: dict[str, Any] = next(
        m for m in (await response.json())["data"] if m["id"] == message_id
    )
    return found


async def test_a_reply_grows_live_in_order_then_shows_it_completed(page: Any, api: Client) -> None:
    from playwright.async_api import expect

    thread_id = await _thread_id(page)
    reads: list[str] = []
    page.on(
        "request",
        lambda request: reads.append(request.url) if "/messages?" in request.url else None,
    )
    message_id = await _start(api, thread_id)
    reply = _reply(page, message_id)
    await expect(reply.locator(".status")).to_have_text("writing…")
    await expect(reply.locator("button.stop")).to_be_visible()
    await expect(reply.locator(".content")).to_have_text("")

    await _stream(api, thread_id, message_id, page, range(len(CHUNKS)))
    # A chunk sent again is acknowledged and appends nothing, on the server or the page.
    assert (
        await _step(api, thread_id, message_id, "chunks", {"index": 1, "content": CHUNKS[1]}) == 200
    )
    assert await _step(api, thread_id, message_id, "complete", {"finish_reason": "stop"}) == 200

    await expect(reply.locator(".status")).to_have_text("complete")
    await expect(reply.locator("button.stop")).to_have_count(0)
    await expect(reply).not_to_have_class("writing")
    await expect(reply.locator(".content")).to_have_text("".join(CHUNKS))
    await expect(page.locator("#messages li")).to_have_count(1)
    # It grew from the stream alone: no chunk looked missed, so the page never read again.
    assert reads == []


async def test_stop_cancels_the_reply_and_keeps_the_text_so_far(page: Any, api: Client) -> None:
    from playwright.async_api import expect

    thread_id = await _thread_id(page)
    message_id = await _start(api, thread_id)
    await _stream(api, thread_id, message_id, page, range(3))
    reply = _reply(page, message_id)

    await reply.locator("button.stop").click()

    await expect(reply.locator(".status")).to_have_text("cancelled")
    await expect(reply.locator("button.stop")).to_have_count(0)
    so_far = "".join(CHUNKS[:3])
    await expect(reply.locator(".content")).to_have_text(so_far)
    stored = await _read(api, thread_id, message_id)
    assert (stored["status"], stored["content"]) == ("cancelled", so_far)
    # Cancelled for good: the agent's next chunk is refused.
    assert await _step(api, thread_id, message_id, "chunks", {"index": 3, "content": "x"}) == 409
    assert await page.locator("#status").get_attribute("class") != "error"


async def test_a_reload_mid_reply_shows_the_text_so_far_and_keeps_growing(
    page: Any, api: Client
) -> None:
    from playwright.async_api import expect

    thread_id = await _thread_id(page)
    message_id = await _start(api, thread_id)
    await _stream(api, thread_id, message_id, page, range(2))

    await page.reload()
    # The console reconnects with the session it keeps and reopens the thread it had open.
    await expect(page.locator("#live")).to_have_text("● live")
    reply = _reply(page, message_id)
    # The page read already holds the chunks that the stream then replays: shown once.
    await expect(reply.locator(".content")).to_have_text("".join(CHUNKS[:2]))
    await expect(reply.locator(".status")).to_have_text("writing…")
    await expect(reply.locator("button.stop")).to_be_visible()

    await _stream(api, thread_id, message_id, page, range(2, len(CHUNKS)))
    assert await _step(api, thread_id, message_id, "complete", {}) == 200
    await expect(reply.locator("button.stop")).to_have_count(0)
    await expect(reply.locator(".status")).to_have_text("complete")
    await expect(reply.locator(".content")).to_have_text("".join(CHUNKS))
