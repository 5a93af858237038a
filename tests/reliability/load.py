"""Drive concurrent writers at a server and keep what it acknowledged, for the crash tests."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from attrs import frozen

__all__ = ["Acked", "create_threads", "read_thread", "write_until_gone"]


@frozen
class Acked:
    """A message the server answered 201 for."""

    thread_id: str
    message_id: str
    seq: int
    content: str


async def create_threads(
    session: aiohttp.ClientSession, headers: Mapping[str, str], count: int
) -> list[str]:
    """Open count threads and return their ids."""
    ids = []
    for number in range(count):
        async with session.post(
            "/chat/threads", json={"title": f"load {number}"}, headers=headers
        ) as answer:
            assert answer.status == 201, await answer.text()
            ids.append((await answer.json())["id"])
    return ids


async def write_until_gone(
    base_url: str,
    headers: Mapping[str, str],
    thread_ids: Sequence[str],
    *,
    writers: int,
    label: str,
    seconds: float,
    statuses: dict[int, int] | None = None,
) -> list[Acked]:
    """Post from `writers` tasks until the server goes away or `seconds` pass; return the 201s."""
    acked: list[Acked] = []
    counter = itertools.count()
    deadline = asyncio.get_running_loop().time() + seconds
    seen = statuses if statuses is not None else {}

    async def writer(number: int, session: aiohttp.ClientSession) -> None:
        thread_id = thread_ids[number % len(thread_ids)]
        path = f"/chat/threads/{thread_id}/messages"
        while asyncio.get_running_loop().time() < deadline:
            content = f"{label}-w{number}-n{next(counter)}"
            try:
                async with session.post(path, json={"content": content}, headers=headers) as answer:
                    seen[answer.status] = seen.get(answer.status, 0) + 1
                    if answer.status != 201:
                        continue
                    body: dict[str, Any] = await answer.json()
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                return
            acked.append(Acked(thread_id, body["id"], body["seq"], body["content"]))

    timeout = aiohttp.ClientTimeout(total=seconds + 30)
    connector = aiohttp.TCPConnector(limit=writers, force_close=False)
    async with aiohttp.ClientSession(base_url, timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(writer(number, session) for number in range(writers)))
    return acked


async def read_thread(
    session: aiohttp.ClientSession, headers: Mapping[str, str], thread_id: str
) -> list[dict[str, Any]]:
    """Read every message of a thread, oldest first, page by page."""
    messages: list[dict[str, Any]] = []
    params = {"limit": "100", "order": "asc"}
    while True:
        async with session.get(
            f"/chat/threads/{thread_id}/messages", params=params, headers=headers
        ) as answer:
            assert answer.status == 200, await answer.text()
            page = await answer.json()
        messages.extend(page["data"])
        if not page["has_more"]:
            return messages
        params = {"limit": "100", "order": "asc", "after": page["next"]}
