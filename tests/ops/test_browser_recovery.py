"""The browser stream recipe (console/stream.js) recovers by itself, in headless Chromium.

A page on another origin follows a thread with followThread, the code the README's
Browsers section shows. Across a real server restart, with events posted (through another
server on the same file) while it was down, and across a token that runs out and is then
refreshed, the page gets every event exactly once, in order. A plain EventSource beside
it shows why the recipe is needed: it retries its used ticket, is refused, and stays closed.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from chat_core.bootstrap import bootstrap
from tests.http.helpers import auth_headers, create_thread, post_message, settings, token
from tests.ops.browser import chromium, page_server
from tests.reliability.server import ServerProcess, free_port, headers_for
from transports.http.app import create_app

README = Path(__file__).resolve().parents[2] / "README.md"
RECIPE = files("transports.http").joinpath("console", "stream.js").read_bytes()
PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>recipe</title>
<script src="/stream.js"></script></head><body></body></html>"""
PAGE_FILES = {"/": (PAGE, "text/html"), "/stream.js": (RECIPE, "text/javascript")}

# Follow the thread with the recipe, keeping on the page what arrives and each state.
FOLLOW = """
({api, threadId, tenant}) => {
  window.received = [];
  window.states = [];
  window.stream = followThread({
    baseUrl: api, threadId, minDelay: 100, maxDelay: 1000,
    takeTicket: async () => {
      const headers = {"Authorization": "Bearer " + window.token, "X-Tenant-Id": tenant,
                       "X-Env": "dev", "Content-Type": "application/json"};
      const body = JSON.stringify({thread_id: threadId});
      const answer = await fetch(api + "/chat/stream-tickets", {method: "POST", headers, body});
      if (!answer.ok) throw new Error("no ticket: " + answer.status);
      return (await answer.json()).ticket;
    },
    onEvent: (envelope) => window.received.push(
      {version: envelope.version, type: envelope.type, content: envelope.data.content || null}),
    onState: (name) => window.states.push(name),
  });
}
"""

# The same thread on a plain EventSource with one ticket, left to reconnect by itself.
PLAIN = """
async ({api, threadId, tenant}) => {
  const headers = {"Authorization": "Bearer " + window.token, "X-Tenant-Id": tenant,
                   "X-Env": "dev", "Content-Type": "application/json"};
  const answer = await fetch(api + "/chat/stream-tickets", {method: "POST", headers, body: "{}"});
  const {ticket} = await answer.json();
  window.plain = new EventSource(api + "/chat/threads/" + threadId + "/events?ticket=" + ticket);
  await new Promise((resolve) => { window.plain.onopen = resolve; });
}
"""


def _versions_reach(version: int) -> str:
    return f"window.received.length > 0 && window.received.at(-1).version >= {version}"


async def _post(base_url: str, headers: dict[str, str], thread_id: str, content: str) -> None:
    async with aiohttp.ClientSession(base_url) as session:
        answer = await session.post(
            f"/chat/threads/{thread_id}/messages", json={"content": content}, headers=headers
        )
        assert answer.status == 201, await answer.text()


async def test_the_recipe_recovers_across_a_server_restart_and_loses_or_repeats_nothing(
    tmp_path: Path,
) -> None:
    store_url = f"sqlite:///{tmp_path / 'chat.db'}"
    headers = headers_for()
    async with page_server(PAGE_FILES) as page_origin, chromium() as browser:
        env = {"CHAT_CORE_CORS_ORIGINS": page_origin, "CHAT_CORE_RATE_LIMIT": "off"}
        port = free_port()
        server = ServerProcess(store_url, tmp_path / "server.log", port=port, **env).start()
        try:
            async with aiohttp.ClientSession(server.base_url) as session:
                answer = await session.post("/chat/threads", json={}, headers=headers)
                thread_id = (await answer.json())["id"]
            for content in ("before 1", "before 2"):
                await _post(server.base_url, headers, thread_id, content)

            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(page_origin + "/")
            bearer = headers["Authorization"].removeprefix("Bearer ")
            await page.evaluate(f"window.token = {bearer!r}")
            arguments = {"api": server.base_url, "threadId": thread_id, "tenant": "t_acme"}
            await page.evaluate(PLAIN, arguments)
            await page.evaluate(FOLLOW, arguments)
            await page.wait_for_function(_versions_reach(3))

            assert server.terminate() == 0, server.log_text()
            # While it is down, another server on the same file takes two posts.
            with ServerProcess(store_url, tmp_path / "interim.log", **env) as interim:
                for content in ("while down 1", "while down 2"):
                    await _post(interim.base_url, headers, thread_id, content)
                assert interim.terminate() == 0
            await page.wait_for_function("window.states.includes('reconnecting')")

            server = ServerProcess(store_url, tmp_path / "server.log", port=port, **env).start()
            await page.wait_for_function(_versions_reach(5), timeout=30_000)
            await _post(server.base_url, headers, thread_id, "after")
            await page.wait_for_function(_versions_reach(6), timeout=30_000)
            # The plain EventSource retried its used ticket, was refused, and gave up.
            await page.wait_for_function("window.plain.readyState === EventSource.CLOSED")
            received = await page.evaluate("window.received")
            states = await page.evaluate("window.states")
        finally:
            server.kill()
    assert [event["version"] for event in received] == [1, 2, 3, 4, 5, 6]
    messages = [event["content"] for event in received if event["type"] == "chat.message.posted"]
    assert messages == ["before 1", "before 2", "while down 1", "while down 2", "after"]
    assert states[0] == "live" and "reconnecting" in states and states[-1] == "live"
    assert errors == []


async def test_the_recipe_recovers_after_the_token_runs_out_and_is_refreshed(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    async with page_server(PAGE_FILES) as page_origin, chromium() as browser:
        core = await bootstrap(
            settings=settings(
                store_url=f"sqlite:///{tmp_path / 'chat.db'}", cors_origins=(page_origin,)
            )
        )
        api = TestServer(create_app(core), host="127.0.0.1")
        await api.start_server(access_log=None)
        try:
            client = await aiohttp_client(api)
            thread = await create_thread(client, auth_headers(), title="a short token")
            await post_message(client, auth_headers(), thread["id"], "first")
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(page_origin + "/")
            # The stream ends when the token it was opened with expires, in 3 s.
            await page.evaluate(f"window.token = {token(ttl=3)!r}")
            api_origin = str(api.make_url("")).rstrip("/")
            arguments = {"api": api_origin, "threadId": thread["id"], "tenant": "t_acme"}
            await page.evaluate(FOLLOW, arguments)
            await page.wait_for_function(_versions_reach(2))
            await page.wait_for_function("window.states.includes('reconnecting')", timeout=15_000)
            await post_message(client, auth_headers(), thread["id"], "while the token was stale")
            # The page refreshes its token, as an app does; the recipe picks it up by itself.
            await page.evaluate(f"window.token = {token()!r}")
            await page.wait_for_function(_versions_reach(3), timeout=15_000)
            await post_message(client, auth_headers(), thread["id"], "live again")
            await page.wait_for_function(_versions_reach(4), timeout=15_000)
            received = await page.evaluate("window.received")
            states = await page.evaluate("window.states")
        finally:
            await api.close()
    assert [event["version"] for event in received] == [1, 2, 3, 4]
    assert [event["content"] for event in received][1:] == [
        "first",
        "while the token was stale",
        "live again",
    ]
    assert states[-1] == "live"
    assert errors == []


def test_the_readme_shows_the_recipe_these_tests_run() -> None:
    blocks = README.read_text(encoding="utf-8").split("```js\n")[1:]
    shown = [block.split("```\n", 1)[0] for block in blocks]
    assert RECIPE.decode() in shown
