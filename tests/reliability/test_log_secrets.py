"""A full run at DEBUG, in text and JSON: no token, secret, ticket or message content is logged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.reliability.server import MASTER_KEY, SECRET, ServerProcess, headers_for

CONTENT = "content-canary-7f3a9"
TITLE = "title-canary-51bd2"
METADATA = "metadata-canary-c04e"
# Past the parser's header limit: aiohttp refuses it before the app, quoting its start.
HUGE_TOKEN = "eyJodWdlLWNhbmFyeSI6MX0" + "x" * 20_000
LINE_TICKET = "ticket-canary-9be1"


async def _full_run(server: ServerProcess) -> list[str]:
    """Exercise every kind of route; return the secrets the run handled."""
    headers = headers_for()
    token = headers["Authorization"].removeprefix("Bearer ")
    bad_token = token[:-4] + "AAAA"
    async with aiohttp.ClientSession(server.base_url) as session:
        async with session.post(
            "/chat/threads", json={"title": TITLE, "metadata": {"k": METADATA}}, headers=headers
        ) as created:
            assert created.status == 201
            thread_id = (await created.json())["id"]
        path = f"/chat/threads/{thread_id}/messages"
        async with session.post(path, json={"content": CONTENT}, headers=headers) as posted:
            assert posted.status == 201
        async with session.post(path, json={"content": 7}, headers=headers) as invalid:
            assert invalid.status == 422
        async with session.get(path, headers=headers) as page:
            assert page.status == 200
        bad = {**headers, "Authorization": f"Bearer {bad_token}"}
        async with session.get(path, headers=bad) as refused:
            assert refused.status == 401
        tickets = []
        for _ in range(2):
            async with session.post(
                "/chat/stream-tickets", json={"thread_id": thread_id}, headers=headers
            ) as issued:
                assert issued.status == 201
                tickets.append((await issued.json())["ticket"])
        async with session.get(
            f"/chat/threads/{thread_id}/events", params={"ticket": tickets[0]}
        ) as stream:
            assert stream.status == 200
            await asyncio.wait_for(stream.content.read(200), 5)
        socket = await session.ws_connect("/chat/ws", params={"ticket": tickets[1]})
        await socket.send_json({"op": "subscribe", "thread_id": thread_id, "id": "s"})
        await asyncio.wait_for(socket.receive(), 5)
        await socket.close()
        huge = {**headers, "Authorization": f"Bearer {HUGE_TOKEN}"}
        async with session.get(path, headers=huge) as too_big:
            assert too_big.status == 400
        long_line = {"ticket": LINE_TICKET, "pad": "p" * 9000}
        async with session.get(f"/chat/threads/{thread_id}/events", params=long_line) as too_long:
            assert too_long.status == 400
    return [token, bad_token, token.split(".")[2], *tickets, HUGE_TOKEN[:40], LINE_TICKET]


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_logs_of_a_full_run_hold_no_secret(tmp_path: Path, log_format: str) -> None:
    env = {"CHAT_CORE_LOG_FORMAT": log_format, "CHAT_CORE_LOG_LEVEL": "DEBUG"}
    server = ServerProcess(f"sqlite:///{tmp_path / 'chat.db'}", tmp_path / "server.log", **env)
    with server:
        handled = await _full_run(server)
        assert server.terminate() == 0
    log = server.log_text()
    assert "POST /chat/threads" in log, "the run logged nothing to check"
    for secret in [*handled, SECRET.decode(), MASTER_KEY, CONTENT, TITLE, METADATA]:
        assert secret not in log, f"{secret[:12]}... reached the {log_format} log"
