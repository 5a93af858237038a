"""Connection bounds on the real server: idle, slow headers, slow bodies and oversized headers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.reliability.server import ServerProcess, headers_for

CLIENT_TIMEOUT = 1.0
# The cut must come within the timeout plus a margin for a loaded CI machine.
BOUND = CLIENT_TIMEOUT + 3.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("slow")
    env = {"CHAT_CORE_CLIENT_TIMEOUT": str(CLIENT_TIMEOUT)}
    with ServerProcess("memory://", folder / "server.log", **env) as running:
        yield running


async def _open(server: ServerProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Read until the server closes the connection; fail if it takes longer than seconds."""
    return await asyncio.wait_for(reader.read(), seconds)


def _request_head(server: ServerProcess, extra: str = "") -> bytes:
    lines = [
        "POST /chat/threads HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        *(f"{name}: {value}" for name, value in headers_for().items()),
        "Content-Type: application/json",
    ]
    return ("\r\n".join(lines) + "\r\n" + extra).encode()


@pytest.mark.slow
async def test_idle_connection_is_closed(server: ServerProcess) -> None:
    reader, writer = await _open(server)
    started = time.monotonic()
    assert await _closed_within(reader, BOUND) == b""
    assert time.monotonic() - started >= CLIENT_TIMEOUT * 0.9
    writer.close()


@pytest.mark.slow
async def test_headers_sent_byte_by_byte_are_cut_off(server: ServerProcess) -> None:
    reader, writer = await _open(server)
    started = time.monotonic()

    async def trickle() -> None:
        for byte in _request_head(server):
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)

    sender = asyncio.create_task(trickle())
    try:
        answer = await _closed_within(reader, BOUND)
    finally:
        sender.cancel()
        writer.close()
    assert b"201" not in answer
    assert time.monotonic() - started < BOUND
    assert not sender.done() or sender.cancelled()


@pytest.mark.slow
async def test_body_sent_slowly_is_refused_with_408(server: ServerProcess) -> None:
    reader, writer = await _open(server)
    writer.write(_request_head(server, "Content-Length: 1000\r\n\r\n{"))
    await writer.drain()
    started = time.monotonic()

    async def trickle() -> None:
        for _ in range(1000):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.1)

    sender = asyncio.create_task(trickle())
    try:
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)
    finally:
        sender.cancel()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"application/problem+json" in answer
    assert time.monotonic() - started < BOUND


@pytest.mark.slow
async def test_oversized_header_is_refused_and_the_server_keeps_serving(
    server: ServerProcess,
) -> None:
    reader, writer = await _open(server)
    writer.write(_request_head(server, f"X-Filler: {'a' * 20_000}\r\n\r\n"))
    await writer.drain()
    answer = await _closed_within(reader, BOUND)
    writer.close()
    assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")
    reader, writer = await _open(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await _closed_within(reader, BOUND)).startswith(b"HTTP/1.1 200")
    writer.close()
