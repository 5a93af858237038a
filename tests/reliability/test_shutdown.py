"""SIGTERM under load: stop accepting, finish what is in flight, close streams, flush, exit 0."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.reliability.load import create_threads, read_thread, write_until_gone
from tests.reliability.server import ServerProcess, headers_for

WRITERS = 16
SHUTDOWN_TIMEOUT = 5.0


async def _slow_body(release: asyncio.Event) -> AsyncIterator[bytes]:
    yield b'{"content": "in flight '
    await release.wait()
    yield b'across SIGTERM"}'


# aiohttp stops reading every connection at SIGTERM (RequestHandler.close drops later
# bytes), so a request still uploading its body cannot finish; the bound below is what
# keeps it from holding the shutdown. Requests whose body had arrived do finish: the
# writers' acknowledged posts in flight at SIGTERM are all checked below.


async def _stream_ends(session: aiohttp.ClientSession, path: str) -> bool:
    """Follow an SSE stream; return True once the server ends it."""
    async with session.get(path, headers=headers_for()) as answer:
        assert answer.status == 200
        async for _line in answer.content:
            pass
    return True


@pytest.mark.slow
async def test_sigterm_under_load_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'chat.db'}"
    env = {"CHAT_CORE_RATE_LIMIT": "off", "CHAT_CORE_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT)}
    server = ServerProcess(store_url, tmp_path / "server.log", **env).start()
    headers = headers_for()
    async with aiohttp.ClientSession(server.base_url) as session:
        thread_ids = await create_threads(session, headers, 4)
        sse = asyncio.create_task(_stream_ends(session, f"/chat/threads/{thread_ids[1]}/events"))
        socket = await session.ws_connect("/chat/ws", headers=headers)
        load = asyncio.create_task(
            write_until_gone(
                server.base_url, headers, thread_ids, writers=WRITERS, label="t", seconds=20
            )
        )
        await asyncio.sleep(1.0)
        started = time.monotonic()
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        acked = await asyncio.wait_for(load, 20)
        assert await asyncio.wait_for(sse, 10)
        closing = await asyncio.wait_for(socket.receive(), 10)
        assert closing.type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}
        await socket.close()
    assert server.wait(SHUTDOWN_TIMEOUT + 10) == 0, server.log_text()
    assert time.monotonic() - started < SHUTDOWN_TIMEOUT + 5
    assert len(acked) > 20

    with ServerProcess(store_url, tmp_path / "server.log", **env) as restarted:
        async with aiohttp.ClientSession(restarted.base_url) as session:
            stored = {tid: await read_thread(session, headers, tid) for tid in thread_ids}
        assert restarted.terminate() == 0
    by_id = {m["id"]: m for messages in stored.values() for m in messages}
    for ack in acked:
        assert by_id[ack.message_id]["content"] == ack.content
    for messages in stored.values():
        assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))


@pytest.mark.slow
async def test_sigterm_waits_for_a_stuck_request_no_longer_than_the_timeout(
    tmp_path: Path,
) -> None:
    store_url = f"sqlite:///{tmp_path / 'chat.db'}"
    env = {"CHAT_CORE_SHUTDOWN_TIMEOUT": "1", "CHAT_CORE_CLIENT_TIMEOUT": "30"}
    server = ServerProcess(store_url, tmp_path / "server.log", **env).start()
    headers = headers_for()
    async with aiohttp.ClientSession(server.base_url) as session:
        thread_id = (await create_threads(session, headers, 1))[0]
        never = asyncio.Event()
        stuck = asyncio.create_task(
            session.post(
                f"/chat/threads/{thread_id}/messages",
                data=_slow_body(never),
                headers={**headers, "Content-Type": "application/json"},
            )
        )
        await asyncio.sleep(0.3)
        started = time.monotonic()
        assert server.terminate(timeout=10) == 0, server.log_text()
        assert time.monotonic() - started < 5
        stuck.cancel()
