"""Routes are registered inside the request gate; a path no route takes still passes it."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, problem_of
from transports.http.access_log import UNMATCHED
from transports.http.admission import AdmissionRouter

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
