"""The dev console's live view comes back by itself after its server restarts (Chromium).

It retries with backoff while the server is down, shows "reconnecting…" meanwhile, and
once the server is back is live again with what was posted in between, each message once.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.ops.browser import chromium
from tests.reliability.server import ServerProcess, free_port, headers_for

DOWN_FOR = 4.0  # seconds the console's server stays down: several failed retries


async def _post(base_url: str, thread_id: str, content: str) -> None:
    async with aiohttp.ClientSession(base_url) as session:
        answer = await session.post(
            f"/chat/threads/{thread_id}/messages",
            json={"content": content},
            headers=headers_for(),
        )
        assert answer.status == 201, await answer.text()


async def test_the_console_is_live_again_after_a_restart_with_nothing_lost_or_doubled(
    tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    store_url = f"sqlite:///{tmp_path / 'chat.db'}"
    env = {"CHAT_CORE_MODE": "dev", "CHAT_CORE_RATE_LIMIT": "off"}
    port = free_port()
    server = ServerProcess(store_url, tmp_path / "server.log", port=port, **env).start()
    try:
        async with chromium() as browser:
            page = await browser.new_page(viewport={"width": 1100, "height": 720})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(server.base_url + "/")
            await page.fill("#token", headers_for()["Authorization"].removeprefix("Bearer "))
            await page.fill("#tenant", "t_acme")
            await page.select_option("#env", "dev")
            await page.click("#connect")
            await expect(page.locator("#status")).to_contain_text("Connected to t_acme / dev")
            await page.fill("#thread-title", "Survives restarts")
            await page.click("#new-thread button")
            live = page.locator("#live")
            await expect(live).to_have_text("● live")
            thread_id = await page.locator("#threads li.selected").get_attribute("data-thread-id")
            assert thread_id is not None
            await _post(server.base_url, thread_id, "before the restart")
            messages = page.locator("#messages li")
            await expect(messages).to_have_count(1)

            assert server.terminate() == 0, server.log_text()
            await expect(live).to_have_text("reconnecting…")
            with ServerProcess(store_url, tmp_path / "interim.log", **env) as interim:
                await _post(interim.base_url, thread_id, "while the console's server was down")
                assert interim.terminate() == 0
            await page.wait_for_timeout(DOWN_FOR * 1000)
            server = ServerProcess(store_url, tmp_path / "server.log", port=port, **env).start()

            await expect(live).to_have_text("● live", timeout=30_000)
            await expect(messages).to_have_count(2, timeout=10_000)
            await _post(server.base_url, thread_id, "after the restart")
            await expect(messages).to_have_count(3)
            texts = await page.locator("#messages li .content").all_text_contents()
            assert texts == [
                "before the restart",
                "while the console's server was down",
                "after the restart",
            ]
            assert errors == []
    finally:
        server.kill()
