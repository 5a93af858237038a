"""Fixtures: the real app on memory, on a SQLite file, and PostgreSQL by fixture."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.http.helpers import build_core
from tests.pg import postgres_url  # noqa: F401 (a fixture: a fresh database, or a skip)
from transports.http.app import create_app

MASTER = os.urandom(32)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'chat.db'}"


async def serve(aiohttp_client: Any, url: str = "memory://") -> TestClient[Any, Any]:
    """Start the real app on the store a URL names."""
    core = await build_core(store_url=url, master_key=MASTER)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(core))
    return client


@pytest.fixture
async def client(aiohttp_client: Any) -> TestClient[Any, Any]:
    return await serve(aiohttp_client)
