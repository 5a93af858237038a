"""A fresh PostgreSQL database per test, or a skip (a failure under CI=true) when none answers.

The server is CHAT_CORE_TEST_POSTGRES_URL if set, else postgresql://postgres@127.0.0.1:5432/test;
that database is only used to create and drop the per-test ones.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from events.store.url import redact_url

__all__ = ["fresh_database", "postgres_url", "server_url", "unreachable"]

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    """Return the URL of the maintenance database the tests create theirs from."""
    return os.environ.get("CHAT_CORE_TEST_POSTGRES_URL") or DEFAULT_URL


def unreachable(reason: str) -> None:
    """Skip the test, or fail it when CI=true, because PostgreSQL cannot be used."""
    message = f"PostgreSQL at {redact_url(server_url())} is not reachable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    root = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{root}/{name}" + (f"?{query}" if query else "")


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """Create an empty database with a unique name, yield its URL, then drop it."""
    try:
        import asyncpg
    except ImportError:
        unreachable("asyncpg is not installed (pip install -e .[postgres])")
        raise
    name = f"chat_core_test_{uuid.uuid4().hex[:16]}"
    try:
        admin = await asyncpg.connect(server_url(), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unreachable(repr(exc))
        raise
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(server_url(), name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """Yield the URL of a fresh database, dropped after the test."""
    async with fresh_database() as url:
        yield url
