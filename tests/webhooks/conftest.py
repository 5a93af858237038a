"""Fixtures: a real receiver on loopback, and the real app with webhook settings for tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chat_core.bootstrap import bootstrap
from events.store.memory import MemoryEventStore
from tests.http.helpers import settings
from tests.pg import postgres_url  # noqa: F401 (a fixture: a fresh database, or a skip)
from tests.webhooks.receiver import Receiver
from transports.http.app import create_app

MASTER = os.urandom(32)
# Tiny waits: each failure is retried twice, then parked.
RETRIES = (0.05, 0.05)


async def serve(
    aiohttp_client: Any,
    url: str = "memory://",
    *,
    allow: tuple[str, ...] = ("127.0.0.1",),
    retries: tuple[float, ...] = RETRIES,
    master: bytes = MASTER,
) -> TestClient[Any, Any]:
    """Start the real app on the store a URL names, with loopback receivers allowed."""
    config = settings(
        store_url=url, master_key=master, webhook_allow=allow, webhook_retries=retries
    )
    store = MemoryEventStore() if url == "memory://" else None
    core = await bootstrap(settings=config, store=store)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(core))
    return client


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'chat.db'}"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = Receiver()
    await started.start()
    yield started
    await started.stop()


@pytest.fixture
async def client(aiohttp_client: Any) -> TestClient[Any, Any]:
    return await serve(aiohttp_client)
