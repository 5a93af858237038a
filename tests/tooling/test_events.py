"""chat-core events: one line per event, filtered, and --follow that sees another writer."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.tooling.conftest import Cli
from tests.tooling.logs import write_chat_log


def test_events_prints_one_line_per_event(cli: Cli, chat_log: str) -> None:
    status, out, err = cli("events", "--store", chat_log)
    lines = out.splitlines()
    assert status == 0 and err == "" and len(lines) == 44
    first = lines[0].split()
    assert first[0] == "1" and first[2] == "t_acme/dev" and first[3] == "chat.thread.created"
    assert first[4].endswith("@1")


def test_events_filters_by_stream_and_position(cli: Cli, chat_log: str) -> None:
    _, out, _ = cli("events", "--store", chat_log, "--json", "--type", "chat.thread.created")
    stream = orjson.loads(out.splitlines()[0])["stream"]
    _, out, _ = cli("events", "--store", chat_log, "--stream", stream)
    assert [line.split()[4] for line in out.splitlines()] == [f"{stream}@{n}" for n in range(1, 6)]
    _, out, _ = cli("events", "--store", chat_log, "--after", "40")
    assert [line.split()[0] for line in out.splitlines()] == ["41", "42", "43", "44"]


def test_events_reads_the_store_from_the_environment(
    cli: Cli, chat_log: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_CORE_STORE", chat_log)
    status, out, _ = cli("events", "--env", "prod", "--tenant", "t_globex")
    assert status == 0 and len(out.splitlines()) == 11


def test_events_follow_prints_events_another_process_appends(chat_log: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "transports.cli.main", "events", "--follow", "--after", "44"]
    env = {**os.environ, "CHAT_CORE_STORE": chat_log}
    follower = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        time.sleep(1.5)
        asyncio.run(write_chat_log(chat_log, threads_per_partition=1, messages=1))
        assert follower.stdout is not None
        lines = [follower.stdout.readline().decode() for _ in range(16)]
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    assert [line.split()[0] for line in lines] == [str(n) for n in range(45, 61)]
