"""Routes are registered inside the request gate; a path no route takes still passes it."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from chat_core.bootstrap import bootstrap
from events.store.memory import MemoryEventStore
from tests.http.helpers import auth_headers, problem_of, settings
from transports.http.access_log import UNMATCHED
from transports.http.admission import AdmissionRouter
from transports.http.app import create_app
from transports.http.routing import DepthRouter, depth_of

Client = TestClient[Any, Any]


async def test_every_route_runs_inside_the_gate(memory_client: Client) -> None:
    routes = list(memory_client.app.router.routes())
    assert routes
    for route in routes:
        assert getattr(route.handler, "__wrapped__", None) is not None, route


async def test_the_app_runs_no_aiohttp_middleware(memory_client: Client) -> None:
    assert isinstance(memory_client.app.router, AdmissionRouter)
    assert not memory_client.app.middlewares


async def test_an_unknown_path_is_a_problem_404_for_any_method(memory_client: Client) -> None:
    for method in ("GET", "POST", "PATCH", "DELETE"):
        headers = auth_headers(request_id=f"route-{method}")
        async with memory_client.request(method, "/no/such/route", headers=headers) as response:
            problem = await problem_of(response, 404)
            assert response.headers["X-Request-Id"] == f"route-{method}"
            assert problem["request_id"] == f"route-{method}"


async def test_a_known_path_with_another_method_is_405_with_what_it_allows(
    memory_client: Client,
) -> None:
    async with memory_client.request("PATCH", "/chat/threads", headers=auth_headers()) as response:
        await problem_of(response, 405)
        assert set(response.headers["Allow"].split(",")) >= {"GET", "POST"}


async def test_head_of_a_get_route_is_answered_not_refused(memory_client: Client) -> None:
    async with memory_client.head("/healthz") as response:
        assert response.status == 200
    async with memory_client.head("/chat/threads", headers=auth_headers()) as response:
        assert response.status == 200


async def test_unmatched_requests_are_counted_under_the_unmatched_label(
    memory_client: Client,
) -> None:
    async with memory_client.get("/no/such/route", headers=auth_headers()) as response:
        assert response.status == 404
    async with memory_client.get("/metrics") as response:
        text = await response.text()
    assert f'route="{UNMATCHED}"' in text
    assert "/no/such/route" not in text


@pytest.mark.parametrize(
    "request_line",
    [
        "OPTIONS * HTTP/1.1",
        "CONNECT 127.0.0.1:443 HTTP/1.1",
        "GET /%0A%0D HTTP/1.1",
        "POST /chat/threads/%0A HTTP/1.1",
        "GET http://x HTTP/1.1",
    ],
)
async def test_a_target_no_route_can_match_is_still_refused_as_a_problem(
    memory_client: Client, request_line: str
) -> None:
    # Request targets no path template can match (none at all, or control characters)
    # still pass the gate: 401 before anything else, as problem+json with a request id.
    server = memory_client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(f"{request_line}\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].split(" ")[1] == "401", lines[0]
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Type"].startswith("application/problem+json")
    assert headers["X-Request-Id"]
    assert headers["WWW-Authenticate"] == "Bearer"
    assert orjson.loads(body)["status"] == 401


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _paths(template: str) -> list[str]:
    """Return paths near a route's template: filled in, one segment more or less, a slash."""
    filled = re.sub(r"\{[^}]+\}", "x_1", template)
    return [filled, filled + "/", filled + "/more", filled.rpartition("/")[0] or "/", "/x" + filled]


def _answer(match: Any) -> tuple[Any, ...]:
    """Return what a resolution decides: the route taken, or the refusal and what it allows."""
    refused = match.http_exception
    if refused is None:
        return ("route", match.route, tuple(sorted(match.items())))
    return ("refused", refused.status, tuple(sorted(getattr(refused, "allowed_methods", ()))))


async def test_resolving_by_depth_answers_as_aiohttp_for_every_route(aiohttp_client: Any) -> None:
    # In dev mode, so that the console's routes are there too.
    core = await bootstrap(settings=settings(mode="dev"), store=MemoryEventStore())
    client: Client = await aiohttp_client(create_app(core))
    router = client.app.router
    assert isinstance(router, DepthRouter)
    templates = {resource.canonical for resource in router.resources()}
    assert "/chat/threads/{thread_id}/messages/{message_id}/chunks" in templates
    checked = 0
    for template in sorted(templates):
        for path in _paths(template):
            for method in _METHODS:
                request = make_mocked_request(method, path, app=client.app)
                ours = await router.resolve(request)
                theirs = await web.UrlDispatcher.resolve(router, request)
                assert _answer(ours) == _answer(theirs), (method, path)
                checked += 1
    assert checked > 500


async def test_a_chunk_tries_two_routes_not_seven(memory_client: Client) -> None:
    router = memory_client.app.router
    assert isinstance(router, DepthRouter)
    path = "/chat/threads/{thread_id}/messages/{message_id}/chunks"
    tried = [r.canonical for r in router.candidates_at("/chat/threads", depth_of(path))]
    assert tried.index(path) <= 1, tried
    posts = router.candidates_at("/chat/threads", depth_of("/chat/threads/{thread_id}/messages"))
    assert posts[0].canonical == "/chat/threads/{thread_id}/messages"
