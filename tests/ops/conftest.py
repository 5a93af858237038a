"""Apps in dev or prod mode over a memory or SQLite store, for the operations tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from chat_core.bootstrap import bootstrap
from events.store.memory import MemoryEventStore
from tests.http.helpers import settings
from transports.http.app import create_app

Client = TestClient[Any, Any]
OpsClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
def ops_client(aiohttp_client: Any, tmp_path: Path) -> OpsClientFactory:
    """Return a factory of clients of the real app: options go to the test Settings."""

    async def make(*, sqlite: bool = False, **options: Any) -> Client:
        store_url = f"sqlite:///{tmp_path / 'chat.db'}" if sqlite else "memory://"
        core = await bootstrap(
            settings=settings(store_url=store_url, **options),
            store=None if sqlite else MemoryEventStore(),
        )
        # As `chat-core serve` runs it: aiohttp's own access log off, the app writes one line.
        server = TestServer(create_app(core))
        await server.start_server(access_log=None)
        client: Client = await aiohttp_client(server)
        return client

    return make
