"""Store URLs: three slashes then a relative path, four for an absolute one, as in SQLAlchemy."""

from __future__ import annotations

from pathlib import Path

import pytest

from events.codec import EventCodec
from events.store.base import StoreError
from events.store.sqlite import SQLiteEventStore
from events.store.url import open_store, sqlite_path


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///./data/chat.db", "./data/chat.db"),
        ("sqlite:///chat.db", "chat.db"),
        ("sqlite:////var/lib/chat.db", "/var/lib/chat.db"),
    ],
)
def test_sqlite_url_names_its_path(url: str, path: str) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://host/chat.db"])
def test_sqlite_url_without_a_path_is_refused(url: str) -> None:
    with pytest.raises(StoreError):
        sqlite_path(url)


async def test_open_store_creates_the_parent_directory(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/nested/dir/events.db", codec=EventCodec())
    try:
        assert isinstance(store, SQLiteEventStore)
        assert (tmp_path / "nested" / "dir" / "events.db").exists()
    finally:
        await store.close()
