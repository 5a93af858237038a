"""HEAD never carries a body: a streamed one would desync the keep-alive connection."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, create_thread


async def _raw_exchange(client: TestClient[Any, Any], request: bytes) -> bytes:
    """Send raw bytes on one connection and return what comes back within half a second."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    writer.write(request)
    await writer.drain()
    received = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), 0.5)
            if not chunk:
                break
            received += chunk
    except TimeoutError:
        pass
    writer.close()
    return received


async def test_head_on_the_event_stream_sends_headers_only(
    memory_client: TestClient[Any, Any],
) -> None:
    headers = auth_headers()
    thread = await create_thread(memory_client, headers, title="head")
    lines = [f"HEAD /chat/threads/{thread['id']}/events HTTP/1.1", "Host: x"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    follow_up = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    received = await _raw_exchange(memory_client, head + follow_up)
    first, _, rest = received.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200")
    assert b"text/event-stream" in first
    # The next bytes must be the next response, not the stream's frames.
    assert rest.startswith(b"HTTP/1.1 200"), rest[:120]
