"""Fixtures: the real app on a SQLite file with a known master key; PostgreSQL by fixture."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.http.helpers import build_core
from tests.pg import postgres_url  # noqa: F401 (a fixture: a fresh database, or a skip)
from transports.http.app import create_app

MASTER = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def master_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Set CHAT_CORE_MASTER_KEY for the CLI tooling the tests run."""
    monkeypatch.setenv("CHAT_CORE_MASTER_KEY", MASTER)
    return MASTER


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'chat.db'}"


@pytest.fixture
async def sqlite_client(
    aiohttp_client: Any, sqlite_url: str, master_key: str
) -> AsyncIterator[TestClient[Any, Any]]:
    core = await build_core(store_url=sqlite_url, master_key=base64.b64decode(master_key))
    client: TestClient[Any, Any] = await aiohttp_client(create_app(core))
    yield client
