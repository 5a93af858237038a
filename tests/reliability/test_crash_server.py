"""SIGKILL the real server under 16 writers, three times: nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from tests.reliability.load import Acked, create_threads, read_thread, write_until_gone
from tests.reliability.server import ServerProcess, chat_core_command, headers_for

WRITERS = 16
THREADS = 4
CYCLES = 3
LOAD_SECONDS = 1.5


async def _load_then_kill(server: ServerProcess, thread_ids: list[str], cycle: int) -> list[Acked]:
    load = asyncio.create_task(
        write_until_gone(
            server.base_url,
            headers_for(),
            thread_ids,
            writers=WRITERS,
            label=f"c{cycle}",
            seconds=LOAD_SECONDS + 20,
        )
    )
    await asyncio.sleep(LOAD_SECONDS)
    server.kill()
    return await asyncio.wait_for(load, 20)


async def _stored(
    server: ServerProcess, thread_ids: list[str]
) -> dict[str, list[dict[str, object]]]:
    async with aiohttp.ClientSession(server.base_url) as session:
        return {tid: await read_thread(session, headers_for(), tid) for tid in thread_ids}


@pytest.mark.slow
async def test_acknowledged_messages_survive_three_sigkills(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    store_url = f"sqlite:///{db}"
    env = {"CHAT_CORE_RATE_LIMIT": "off"}
    acked: list[Acked] = []
    with ServerProcess(store_url, tmp_path / "server.log", **env) as server:
        async with aiohttp.ClientSession(server.base_url) as session:
            thread_ids = await create_threads(session, headers_for(), THREADS)
    for cycle in range(CYCLES):
        server = ServerProcess(store_url, tmp_path / "server.log", **env).start()
        cycle_acks = await _load_then_kill(server, thread_ids, cycle)
        assert len(cycle_acks) > 20, f"cycle {cycle}: too little load to prove anything"
        print(f"cycle {cycle}: {len(cycle_acks)} messages acknowledged before SIGKILL")
        acked.extend(cycle_acks)

    with ServerProcess(store_url, tmp_path / "server.log", **env) as server:
        stored = await _stored(server, thread_ids)
        assert server.terminate() == 0

    for thread_id, messages in stored.items():
        assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1)), thread_id
        assert len({m["id"] for m in messages}) == len(messages)
    by_id = {m["id"]: m for messages in stored.values() for m in messages}
    for ack in acked:
        message = by_id.get(ack.message_id)
        assert message is not None, f"acknowledged {ack} is gone"
        assert (message["thread_id"], message["seq"], message["content"]) == (
            ack.thread_id,
            ack.seq,
            ack.content,
        )

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    status, output = chat_core_command("verify", "--store", store_url)
    assert status == 0 and "no fault" in output, output
    status, output = chat_core_command("replay", "--check", "--store", store_url)
    assert status == 0, output
