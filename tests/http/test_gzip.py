"""Large JSON answers are gzipped for a client that takes gzip; small ones and streams never."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.http.helpers import auth_headers, build_core
from transports.http.app import create_app
from transports.http.compression import GZIP_MIN_BYTES, accepts_gzip
from transports.http.stream_settings import StreamSettings

LONG = "a message long enough that a page of them passes the gzip threshold " * 4


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    """Serve the app, streams included, on 127.0.0.1 at a free port; yield its base URL."""
    app = create_app(await build_core(), streams=StreamSettings(heartbeat=0.2))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _thread_with_messages(session: aiohttp.ClientSession, count: int) -> str:
    async with session.post("/chat/threads", json={}, headers=auth_headers()) as created:
        thread_id: str = (await created.json())["id"]
    for _ in range(count):
        path = f"/chat/threads/{thread_id}/messages"
        async with session.post(path, json={"content": LONG}, headers=auth_headers()) as posted:
            assert posted.status == 201
    return thread_id


async def _raw_get(
    session: aiohttp.ClientSession, path: str, accept_encoding: str | None
) -> tuple[aiohttp.ClientResponse, bytes]:
    headers = auth_headers()
    if accept_encoding is not None:
        headers["Accept-Encoding"] = accept_encoding
    async with session.get(path, headers=headers, params={"limit": "100"}) as response:
        return response, await response.read()


async def test_a_large_page_is_gzipped_for_a_client_that_takes_gzip(base_url: str) -> None:
    async with aiohttp.ClientSession(base_url, auto_decompress=False) as session:
        thread_id = await _thread_with_messages(session, 60)
        path = f"/chat/threads/{thread_id}/messages"
        plain, plain_body = await _raw_get(session, path, "identity")
        packed, packed_body = await _raw_get(session, path, "br;q=1.0, gzip;q=0.8")
    assert len(plain_body) >= GZIP_MIN_BYTES and "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert int(packed.headers["Content-Length"]) == len(packed_body) < len(plain_body) // 4
    assert orjson.loads(gzip.decompress(packed_body)) == orjson.loads(plain_body)
    assert (
        "Accept-Encoding" in packed.headers["Vary"] and "Accept-Encoding" in plain.headers["Vary"]
    )


@pytest.mark.parametrize("accept_encoding", [None, "identity", "gzip;q=0", "deflate", "*;q=0"])
async def test_a_client_that_does_not_take_gzip_gets_the_plain_answer(
    base_url: str, accept_encoding: str | None
) -> None:
    async with aiohttp.ClientSession(base_url, auto_decompress=False) as session:
        thread_id = await _thread_with_messages(session, 60)
        path = f"/chat/threads/{thread_id}/messages"
        response, body = await _raw_get(session, path, accept_encoding or "")
    assert "Content-Encoding" not in response.headers
    assert len(orjson.loads(body)["data"]) == 60


async def test_a_small_answer_is_never_gzipped(base_url: str) -> None:
    async with aiohttp.ClientSession(base_url, auto_decompress=False) as session:
        thread_id = await _thread_with_messages(session, 2)
        path = f"/chat/threads/{thread_id}/messages"
        response, body = await _raw_get(session, path, "gzip")
    assert len(body) < GZIP_MIN_BYTES
    assert "Content-Encoding" not in response.headers and "Vary" not in response.headers


async def test_a_stream_is_never_gzipped(base_url: str) -> None:
    async with aiohttp.ClientSession(base_url, auto_decompress=False) as session:
        thread_id = await _thread_with_messages(session, 60)
        headers = {**auth_headers(), "Accept-Encoding": "gzip"}
        path = f"/chat/threads/{thread_id}/events"
        async with session.get(path, headers=headers) as stream:
            assert stream.status == 200
            assert "Content-Encoding" not in stream.headers
            first = await stream.content.readline()
            assert first.startswith((b"id:", b"event:", b":", b"retry:"))
        async with session.ws_connect("/chat/ws", headers=headers) as socket:
            assert "Content-Encoding" not in socket._response.headers
            assert not socket.compress


@pytest.mark.parametrize(
    ("header", "takes"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("*;q=0, gzip", True),
        ("br", False),
        ("", False),
        ("gzip;q=bad", False),
    ],
)
def test_accept_encoding_is_read_with_its_qualities(header: str, takes: bool) -> None:
    assert accepts_gzip(header) is takes
