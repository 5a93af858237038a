"""Fixtures: the app with streams on a real loopback port, with short heartbeats."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.streams.helpers import build_stream_app

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_client(aiohttp_client: Any) -> ClientFactory:
    """Return a factory of test clients around apps with the given stream settings."""

    async def make(**options: Any) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = await aiohttp_client(await build_stream_app(**options))
        return client

    return make


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    """Return a client of the app on a memory store with a 0.2 s heartbeat."""
    return await make_client(heartbeat=0.2)
