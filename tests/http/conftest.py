"""Fixtures: the real app over a memory store or a SQLite file, behind aiohttp's test client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from events.store.base import EventStore
from tests.http.helpers import build_app
from tests.pg import postgres_url  # noqa: F401 (a fixture: a fresh database, or a skip)
from transports.http.app_keys import CORE

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Name each backend the app runs on: memory, a SQLite file, a fresh PostgreSQL database."""
    if request.param == "memory":
        return "memory://"
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite:///{tmp_path / 'chat.db'}"


@pytest.fixture
def make_client(aiohttp_client: Any) -> ClientFactory:
    """Return a factory of test clients around freshly bootstrapped apps."""

    async def make(**options: Any) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = await aiohttp_client(await build_app(**options))
        return client

    return make


@pytest.fixture
async def client(make_client: ClientFactory, store_url: str) -> TestClient[Any, Any]:
    """Return a client of the app on each backend."""
    return await make_client(store_url=store_url)


@pytest.fixture
async def memory_client(make_client: ClientFactory) -> TestClient[Any, Any]:
    """Return a client of the app on a memory store, for tests that need no disk."""
    return await make_client()


@pytest.fixture
def store(client: TestClient[Any, Any]) -> EventStore:
    """Return the store behind the parametrized client."""
    return client.app[CORE].store


@pytest.fixture
def memory_store(memory_client: TestClient[Any, Any]) -> EventStore:
    """Return the store behind memory_client."""
    return memory_client.app[CORE].store
