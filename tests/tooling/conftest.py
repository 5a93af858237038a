"""Fixtures: a chat log written through the real pipeline into a SQLite file, and the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.tooling.logs import append_old_notes, log_file, write_chat_log
from transports.cli.main import main

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def chat_log(tmp_path: Path) -> str:
    """Return the URL of a chat log in 2 tenants x 2 envs, written by the pipeline."""
    url = log_file(tmp_path)
    asyncio.run(write_chat_log(url))
    return url


@pytest.fixture
def old_log(chat_log: str) -> str:
    """Return the chat log with schema-v1 notes appended by old code."""
    asyncio.run(append_old_notes(chat_log))
    return chat_log


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Return a runner of chat-core that gives back the status, stdout and stderr."""

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(list(argv))
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run
