"""The store fixture: every contract test runs against each backend in BACKENDS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events.store.base import EventStore
from tests.events.factories import BACKENDS, open_backend


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventStore]:
    """Yield an open, empty store of each backend."""
    async with open_backend(request.param, tmp_path) as opened:
        yield opened
