"""A page on another origin calls the API from headless Chromium: fetch, EventSource, WebSocket.

The page is served on one loopback port and the API on another, which CHAT_CORE_CORS_ORIGINS
lists; the browser itself enforces CORS, so a missing or wrong header fails the call here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from chat_core.bootstrap import bootstrap
from tests.http.helpers import auth_headers, create_thread, post_message, settings, token
from tests.ops.browser import chromium, page_server
from transports.http.app import create_app

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

# Every request header of the contract, sent from the page; the answers' exposed headers read.
FETCH_EVERY_HEADER = """
async ({api, token}) => {
  const context = {"Authorization": "Bearer " + token, "X-Tenant-Id": "t_globex", "X-Env": "dev"};
  const write = {...context, "Content-Type": "application/json", "X-Request-Id": "page-1",
                 "Idempotency-Key": "page-key-1", "traceparent": TRACEPARENT};
  const body = JSON.stringify({title: "from another origin"});
  const first = await fetch(api + "/chat/threads", {method: "POST", headers: write, body});
  const again = await fetch(api + "/chat/threads", {method: "POST", headers: write, body});
  const thread = await first.json();
  const config = await fetch(api + "/temperature/config", {headers: context});
  const etag = config.headers.get("ETag");
  const put = await fetch(api + "/temperature/config", {
    method: "PUT", headers: {...context, "Content-Type": "application/json", "If-Match": etag},
    body: JSON.stringify({default: 0.5, min: 0, max: 2, overrides: {}}),
  });
  const stale = await fetch(api + "/temperature/config", {
    method: "PUT", headers: {...context, "Content-Type": "application/json", "If-Match": etag},
    body: JSON.stringify({default: 0.7, min: 0, max: 2, overrides: {}}),
  });
  const refused = await fetch(api + "/chat/threads", {headers: {"X-Tenant-Id": "t_globex"}});
  const problem = await refused.json();
  return {
    created: first.status, requestId: first.headers.get("X-Request-Id"), threadId: thread.id,
    replayed: again.headers.get("Idempotent-Replayed"), againId: (await again.json()).id,
    etag, put: put.status, newEtag: put.headers.get("ETag"), stale: stale.status,
    refused: refused.status, refusedId: refused.headers.get("X-Request-Id"),
    problemId: problem.request_id,
  };
}
""".replace("TRACEPARENT", repr(TRACEPARENT))

# Take a ticket over fetch, open an EventSource with it, and keep what arrives on the page.
OPEN_EVENT_SOURCE = """
async ({api, token, threadId}) => {
  const headers = {"Authorization": "Bearer " + token, "X-Tenant-Id": "t_acme", "X-Env": "dev",
                   "Content-Type": "application/json"};
  const body = JSON.stringify({thread_id: threadId});
  const answer = await fetch(api + "/chat/stream-tickets", {method: "POST", headers, body});
  const {ticket} = await answer.json();
  window.received = [];
  const url = api + "/chat/threads/" + threadId + "/events?ticket=" + encodeURIComponent(ticket);
  const source = new EventSource(url);
  source.addEventListener("chat.message.posted", (event) => {
    window.received.push({id: event.lastEventId, content: JSON.parse(event.data).data.content});
  });
  await new Promise((resolve, reject) => {
    source.onopen = resolve;
    source.onerror = () => reject(new Error("EventSource failed"));
  });
  return answer.status;
}
"""

# Take a ticket, open the WebSocket with it, subscribe, post, and wait for the event back.
WEBSOCKET_ROUND_TRIP = """
async ({api, token, threadId}) => {
  const headers = {"Authorization": "Bearer " + token, "X-Tenant-Id": "t_acme", "X-Env": "dev",
                   "Content-Type": "application/json"};
  const answer = await fetch(api + "/chat/stream-tickets", {method: "POST", headers, body: "{}"});
  const {ticket} = await answer.json();
  const socket = new WebSocket(api.replace("http", "ws") + "/chat/ws?ticket=" + ticket);
  const frames = [];
  const event = new Promise((resolve, reject) => {
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      frames.push(frame);
      if (frame.op === "ack" && frame.id === "sub") {
        socket.send(JSON.stringify({op: "post", id: "post", thread_id: threadId,
                                    content: "over the socket"}));
      }
      if (frame.op === "event" && frame.event.type === "chat.message.posted") resolve(frame);
    };
    socket.onerror = () => reject(new Error("WebSocket failed"));
  });
  await new Promise((resolve) => { socket.onopen = resolve; });
  socket.send(JSON.stringify({op: "subscribe", id: "sub", thread_id: threadId}));
  const posted = await event;
  socket.close();
  return {content: posted.event.data.content, ops: frames.map((frame) => frame.op)};
}
"""


@pytest.fixture
async def origins(tmp_path: Path) -> AsyncIterator[tuple[str, TestServer]]:
    """Yield a page's origin and an API server on another port that lists it for CORS."""
    async with page_server() as page:
        core = await bootstrap(
            settings=settings(store_url=f"sqlite:///{tmp_path / 'chat.db'}", cors_origins=(page,))
        )
        api = TestServer(create_app(core), host="127.0.0.1")
        await api.start_server(access_log=None)
        try:
            yield page, api
        finally:
            await api.close()


async def _open_page(browser: Any, page_origin: str) -> tuple[Any, list[str]]:
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(page_origin + "/")
    return page, errors


async def test_fetch_from_another_origin_sends_every_header_and_reads_the_answers(
    origins: tuple[str, TestServer],
) -> None:
    page_origin, api = origins
    api_origin = str(api.make_url("")).rstrip("/")
    async with chromium() as browser:
        page, errors = await _open_page(browser, page_origin)
        seen = await page.evaluate(FETCH_EVERY_HEADER, {"api": api_origin, "token": token()})
    assert seen["created"] == 201
    assert seen["requestId"] == "page-1"
    assert seen["replayed"] == "true"
    assert seen["againId"] == seen["threadId"]
    assert seen["etag"] and seen["newEtag"] and seen["etag"] != seen["newEtag"]
    assert (seen["put"], seen["stale"]) == (200, 412)
    assert seen["refused"] == 401
    assert seen["refusedId"] and seen["refusedId"] == seen["problemId"]
    assert errors == []


async def test_an_event_source_on_another_origin_follows_a_thread_with_a_ticket(
    origins: tuple[str, TestServer], aiohttp_client: Any
) -> None:
    page_origin, api = origins
    api_origin = str(api.make_url("")).rstrip("/")
    client: TestClient[Any, Any] = await aiohttp_client(api)
    thread = await create_thread(client, auth_headers(), title="followed from a page")
    async with chromium() as browser:
        page, errors = await _open_page(browser, page_origin)
        arguments = {"api": api_origin, "token": token(), "threadId": thread["id"]}
        assert await page.evaluate(OPEN_EVENT_SOURCE, arguments) == 201
        await post_message(client, auth_headers(), thread["id"], "seen across origins")
        await page.wait_for_function("window.received.length >= 1")
        received = await page.evaluate("window.received")
    assert received == [{"id": "2", "content": "seen across origins"}]
    assert errors == []


async def test_a_websocket_on_another_origin_subscribes_and_posts_with_a_ticket(
    origins: tuple[str, TestServer], aiohttp_client: Any
) -> None:
    page_origin, api = origins
    api_origin = str(api.make_url("")).rstrip("/")
    client: TestClient[Any, Any] = await aiohttp_client(api)
    thread = await create_thread(client, auth_headers(), title="talked to from a page")
    async with chromium() as browser:
        page, errors = await _open_page(browser, page_origin)
        arguments = {"api": api_origin, "token": token(), "threadId": thread["id"]}
        seen = await page.evaluate(WEBSOCKET_ROUND_TRIP, arguments)
    assert seen["content"] == "over the socket"
    assert seen["ops"][0] == "ack" and "event" in seen["ops"]
    assert errors == []
