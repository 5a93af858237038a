"""The Server header names no version; a request line of another HTTP major version is 505."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, create_thread

Client = TestClient[Any, Any]
VERSIONED = re.compile(r"\d")


async def _raw(client: Client, request: str) -> tuple[str, dict[str, str], bytes]:
    server = client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request.encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    return status_line, dict(line.split(": ", 1) for line in lines), body


async def test_no_answer_names_the_servers_software_version(memory_client: Client) -> None:
    headers = auth_headers()
    thread = await create_thread(memory_client, headers)
    answers = [
        await memory_client.get("/healthz"),
        await memory_client.get("/chat/threads", headers=headers),
        await memory_client.post("/chat/threads", json={}),
        await memory_client.get("/no/such/route", headers=headers),
        await memory_client.get(f"/chat/threads/{thread['id']}", headers=headers),
    ]
    for response in answers:
        server = response.headers.get("Server", "")
        assert "aiohttp" not in server and not VERSIONED.search(server), server
    # Refused by the HTTP parser itself, before any route.
    _, parsed, _ = await _raw(memory_client, "GET / HTTP/1.7\r\nHost: x\r\n\r\n")
    assert not VERSIONED.search(parsed.get("Server", "")), parsed
    assert "aiohttp" not in parsed.get("Server", "")


@pytest.mark.parametrize(
    "request_line", ["GET /healthz HTTP/2.0", "POST /chat/threads HTTP/2.0", "GET / HTTP/0.9"]
)
async def test_another_http_major_version_is_505_as_a_problem(
    memory_client: Client, request_line: str
) -> None:
    status_line, headers, body = await _raw(
        memory_client, f"{request_line}\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
    )
    assert status_line.split(" ")[1] == "505", status_line
    assert headers["Content-Type"].startswith("application/problem+json")
    assert headers["Connection"] == "close"
    problem = orjson.loads(body)
    assert problem["status"] == 505 and request_line.split(" ")[2] in problem["detail"]
    assert headers["X-Request-Id"] == problem["request_id"]


async def test_http_1_0_is_still_answered(memory_client: Client) -> None:
    status_line, _, body = await _raw(memory_client, "GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
    assert status_line.startswith("HTTP/1.0 200 "), status_line
    assert orjson.loads(body) == {"status": "ok"}


async def test_the_http2_preface_is_refused(memory_client: Client) -> None:
    status_line, _, _ = await _raw(memory_client, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert status_line.split(" ")[1] == "400", status_line
