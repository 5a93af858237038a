"""Where wrapped data keys live: the port a key store implements, and the one in memory.

A stored key is wrapped by the master key and bound to its slot (tenant, subject, key id),
so a row copied to another subject does not open; a destroyed key keeps its row, with no
key material, as the tombstone that says the subject was erased. Destroying is two steps:
the row loses its key material at once, and a scrub then removes the bytes the database
kept elsewhere (old WAL frames, dead tuples), as soon as no reader needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import attrs
from attrs import frozen

from events.crypto import BadMasterKey, MasterKey

__all__ = [
    "KeyStore",
    "MemoryKeyStore",
    "StoredKey",
    "key_aad",
    "open_key_store",
    "unwrap_key",
]


@frozen(kw_only=True)
class StoredKey:
    """A data key as the store keeps it: wrapped by a master key, or destroyed (None)."""

    tenant: str
    subject: str
    key_id: int
    wrapped: bytes | None
    master_id: str
    created_at: datetime


@runtime_checkable
class KeyStore(Protocol):
    """Where wrapped data keys live: beside the log, in the same database."""

    async def add_key(self, key: StoredKey) -> StoredKey:
        """Store a key unless (tenant, subject, key_id) is taken; return the stored one."""
        ...

    async def subject_keys(self, tenant: str, subject: str) -> list[StoredKey]:
        """Return a subject's keys in a tenant, destroyed ones included, by key id."""
        ...

    async def destroy_keys(self, tenant: str, subject: str) -> int:
        """Erase the key material of every live key of the subject; return how many.

        Nothing opens under those keys any more, but their bytes may linger in the
        database's files until a scrub gets through.
        """
        ...

    async def scrub(self) -> bool:
        """Remove what destroyed keys left in the database's files; tell whether all is gone.

        Never waits on other connections (a reader's snapshot may still need those bytes):
        it tries once, and a later call tries again.
        """
        ...

    async def all_keys(self) -> list[StoredKey]:
        """Return every stored key, for rotation and copying."""
        ...

    async def rewrap_key(self, key: StoredKey, *, previous_master: str) -> bool:
        """Replace a live key's wrapping if previous_master still wraps it; tell whether it did."""
        ...

    async def foreign_master(self, master_id: str) -> str | None:
        """Return the id of a master key other than master_id that wraps a live key, if any."""
        ...

    async def close(self) -> None:
        """Release the key store's connections."""
        ...


class MemoryKeyStore:
    """Keep wrapped keys in a dict, for memory:// stores and tests."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str, int], StoredKey] = {}

    async def add_key(self, key: StoredKey) -> StoredKey:
        return self._keys.setdefault((key.tenant, key.subject, key.key_id), key)

    async def subject_keys(self, tenant: str, subject: str) -> list[StoredKey]:
        found = [k for (t, s, _), k in self._keys.items() if t == tenant and s == subject]
        return sorted(found, key=lambda k: k.key_id)

    async def destroy_keys(self, tenant: str, subject: str) -> int:
        live = [k for k in await self.subject_keys(tenant, subject) if k.wrapped is not None]
        for key in live:
            self._keys[(tenant, subject, key.key_id)] = attrs.evolve(key, wrapped=None)
        return len(live)

    async def scrub(self) -> bool:
        return True

    async def all_keys(self) -> list[StoredKey]:
        return sorted(self._keys.values(), key=lambda k: (k.tenant, k.subject, k.key_id))

    async def rewrap_key(self, key: StoredKey, *, previous_master: str) -> bool:
        slot = (key.tenant, key.subject, key.key_id)
        current = self._keys.get(slot)
        if current is None or current.wrapped is None or current.master_id != previous_master:
            return False
        self._keys[slot] = key
        return True

    async def foreign_master(self, master_id: str) -> str | None:
        live = (k.master_id for k in self._keys.values() if k.wrapped is not None)
        return next((other for other in live if other != master_id), None)

    async def close(self) -> None:
        pass


def key_aad(tenant: str, subject: str, key_id: int) -> bytes:
    """Bind a wrapped key to its slot, so a row copied to another subject does not open."""
    return b"\x1f".join((b"chat-core data key", tenant.encode(), subject.encode(), b"%d" % key_id))


def unwrap_key(stored: StoredKey, master: MasterKey) -> bytes:
    """Return the key material of a live stored key, or raise BadMasterKey or SealBroken."""
    assert stored.wrapped is not None
    if stored.master_id != master.key_id:
        raise BadMasterKey(
            f"data key {stored.key_id} of a subject in {stored.tenant} is wrapped by master "
            f"key {stored.master_id}, not the configured {master.key_id}"
        )
    return master.unwrap(stored.wrapped, key_aad(stored.tenant, stored.subject, stored.key_id))


async def open_key_store(url: str, *, clock: Callable[[], datetime] | None = None) -> KeyStore:
    """Open the key store that lives in the same database as the log a URL names."""
    now = clock or (lambda: datetime.now(UTC))
    if url.startswith("sqlite:"):
        from events.store.sqlite_keys import SQLiteKeyStore
        from events.store.url import sqlite_path

        return await SQLiteKeyStore.open(sqlite_path(url), clock=now)
    if url.startswith(("postgresql://", "postgres://")):
        from events.store.postgres_keys import PostgresKeyStore

        return await PostgresKeyStore.open(url, clock=now)
    return MemoryKeyStore()
