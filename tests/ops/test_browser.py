"""End to end in headless Chromium: the console lists, creates, posts, and shows a live message.

Needs Debian's `chromium` (see tests/ops/browser.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from chat_core.bootstrap import bootstrap
from tests.http.helpers import auth_headers, post_message, settings, token
from tests.ops.browser import CHROMIUM_ARGS, chromium_path
from transports.http.app import create_app

LIVE_TEXT = "This one arrived live, posted through the API"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[TestServer]:
    """Serve the real app in dev mode on a loopback port, over a SQLite file."""
    core = await bootstrap(settings=settings(store_url=f"sqlite:///{tmp_path / 'chat.db'}"))
    test_server = TestServer(create_app(core), host="127.0.0.1")
    await test_server.start_server(access_log=None)
    yield test_server
    await test_server.close()


async def test_console_shows_a_message_arriving_live(
    server: TestServer, aiohttp_client: Any, tmp_path: Path
) -> None:
    executable = chromium_path()
    from playwright.async_api import async_playwright, expect

    base = str(server.make_url("/"))
    bearer = token("u_ada")
    api = await aiohttp_client(server)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 720})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(base)
            await page.fill("#token", bearer)
            await page.fill("#tenant", "t_acme")
            await page.select_option("#env", "dev")
            await page.click("#connect")
            await expect(page.locator("#status")).to_contain_text("Connected to t_acme / dev")

            await page.fill("#thread-title", "Launch plans")
            await page.click("#new-thread button")
            await expect(page.locator("#thread-title-view")).to_have_text("Launch plans")
            await expect(page.locator("#threads li.selected")).to_contain_text("Launch plans")
            await expect(page.locator("#live")).to_have_text("● live")

            await page.fill("#message-content", "Typed into the console")
            await page.click("#new-message button")
            await expect(page.locator("#messages li")).to_have_count(1)

            thread_id = await page.locator("#threads li.selected").get_attribute("data-thread-id")
            assert thread_id is not None
            await post_message(api, auth_headers(bearer=bearer), thread_id, LIVE_TEXT)
            # The console's own post may also come back over the stream first and be marked
            # live, so pick the API's message by its text.
            live = page.locator("#messages li.live", has_text=LIVE_TEXT)
            await expect(live).to_have_count(1)
            await expect(page.locator("#messages li")).to_have_count(2)

            shot = tmp_path / "console-live-message.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert errors == []
        finally:
            await browser.close()
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    keep = os.environ.get("CHAT_CORE_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
