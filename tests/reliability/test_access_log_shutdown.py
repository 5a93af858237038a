"""SIGTERM right after a burst of requests: every access line batched so far reaches the log."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.reliability.server import ServerProcess, headers_for

REQUESTS = 300


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_sigterm_writes_every_batched_access_line(tmp_path: Path, log_format: str) -> None:
    env = {"CHAT_CORE_LOG_FORMAT": log_format, "CHAT_CORE_LOG_LEVEL": "INFO"}
    server = ServerProcess(f"sqlite:///{tmp_path / 'chat.db'}", tmp_path / "server.log", **env)
    with server:
        headers = headers_for()
        async with aiohttp.ClientSession(server.base_url) as session:
            for index in range(REQUESTS):
                path = "/chat/threads" if index % 2 else "/healthz"
                own = {**headers, "X-Request-Id": f"burst-{index:04d}"}
                async with session.get(path, headers=own) as answer:
                    assert answer.status == 200
        # At once, with lines still in the batch: the exit writes them.
        assert server.terminate() == 0
    log = server.log_text()
    if log_format == "json":
        access = [
            entry
            for entry in (orjson.loads(line) for line in log.splitlines() if line.startswith("{"))
            if entry["logger"] == "chat_core.access"
        ]
        ids = [entry["request_id"] for entry in access if entry["request_id"].startswith("burst-")]
        assert all(entry["status"] == 200 for entry in access)
    else:
        ids = re.findall(r"request_id=(burst-\d{4}) ", log)
    assert ids == [f"burst-{index:04d}" for index in range(REQUESTS)]
