"""Branch benchmark: the path of a long branch beside a plain message page, on one server.

Run: `python -m bench.branches [--quick]`. One chat-core server (a SQLite file, access log
off) on 127.0.0.1, pinned to core 0; wrk drives it from core 1. Its thread holds BRANCHES
branches of BRANCH_LENGTH messages each under one root, posted interleaved (10,000
messages, each branch spread across the thread). Measured in turn, over ROUNDS rounds of
SECONDS each: the plain message page (`GET …/messages?limit=20`, the reference), the first
page of one branch's path from its last message (`GET …/messages/{id}/path?limit=20`), and,
for information, a page in the middle of that path, whose messages are read back from the
stream. Each ratio is the median of its per-round ratios to the plain page of the same
round; the target is at least 0.8x for the first page.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile

import aiohttp

from bench.http_api import (
    TENANT,
    Measurement,
    _free_port,
    _measure,
    _start_chat_core,
    _wait_ready,
    bench_token,
    page_ratio_table,
)
from chat_core.cursors import encode_cursor

__all__ = ["run"]

BRANCHES, BRANCH_LENGTH = 10, 1000
ROUNDS, SECONDS = 5, 4
PAGE = "GET message page of 20 (reference)"
FIRST = "GET path, first page of 20"
MIDDLE = "GET path, a middle page of 20 (read back)"
# Concurrent posts while the thread is built: one writer per branch, each in order.
DEADLINE = 600.0


async def _build(base: str, headers: dict[str, str], length: int) -> tuple[str, list[int], str]:
    """Post the thread; return its id, the seqs of the measured branch and its last id."""
    async with aiohttp.ClientSession(base, headers=headers) as session:
        async with session.post("/chat/threads", data=b"{}") as response:
            thread_id: str = (await response.json())["id"]
        messages = f"/chat/threads/{thread_id}/messages"
        async with session.post(messages, data=b'{"content": "root"}') as response:
            root: str = (await response.json())["id"]
        tips = [root] * BRANCHES
        seqs: list[int] = [1]
        for step in range(length):
            # One post per branch per step, together: the branches interleave in seq.
            async def grow(branch: int, parent: str, step: int = step) -> tuple[str, int]:
                body = {"content": f"branch {branch} step {step}", "parent_id": parent}
                async with session.post(messages, json=body) as response:
                    assert response.status == 201, await response.text()
                    made = await response.json()
                    return made["id"], made["seq"]

            grown = await asyncio.gather(
                *(grow(branch, tips[branch]) for branch in range(BRANCHES))
            )
            tips = [message_id for message_id, _seq in grown]
            seqs.append(grown[0][1])
        return thread_id, seqs, tips[0]


async def _run(quick: bool) -> list[list[Measurement]]:
    headers = {
        "Authorization": f"Bearer {bench_token()}",
        "X-Tenant-Id": TENANT,
        "X-Env": "dev",
        "Content-Type": "application/json",
    }
    length = 200 if quick else BRANCH_LENGTH
    seconds = 2 if quick else SECONDS
    rounds: list[list[Measurement]] = []
    with tempfile.TemporaryDirectory() as folder:
        port = _free_port()
        server = _start_chat_core(port, f"sqlite:///{folder}/branches.db")
        try:
            base = f"http://127.0.0.1:{port}"
            await _wait_ready(base)
            thread_id, seqs, tip = await asyncio.wait_for(_build(base, headers, length), DEADLINE)
            messages = f"{base}/chat/threads/{thread_id}/messages"
            middle = encode_cursor("path", "asc", seqs[len(seqs) // 2])
            urls = [
                (PAGE, f"{messages}?limit=20"),
                (FIRST, f"{messages}/{tip}/path?limit=20"),
                (MIDDLE, f"{messages}/{tip}/path?limit=20&after={middle}"),
            ]
            print(
                f"  a thread of {1 + BRANCHES * length:,} messages, {BRANCHES} branches of"
                f" {length:,}; the path measured holds {len(seqs):,} messages"
            )
            for _ in range(1 if quick else ROUNDS):
                rounds.append(
                    [
                        await _measure(
                            name, url, "GET", headers, None, folder=folder, seconds=seconds
                        )
                        for name, url in urls
                    ]
                )
        finally:
            server.terminate()
            server.wait(timeout=20)
    return rounds


def run(*, quick: bool = False) -> list[Measurement]:
    """Measure and print each route's rate and its ratio to the plain page of its round."""
    rounds = asyncio.run(_run(quick))
    tool = "wrk" if shutil.which("wrk") else "aiohttp client (install wrk for real figures)"
    print(f"\nbranches, server on core 0, load by {tool}; req/s per round (x page):")
    results = page_ratio_table(rounds)
    ratio = results[1].ratio
    verdict = "met" if ratio >= 0.8 else "MISSED"
    print(f"  first page of the path: {ratio:.3f}x the plain page (target 0.8x: {verdict})")
    return results


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
