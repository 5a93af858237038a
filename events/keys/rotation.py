"""Master-key rotation: rewrap every live data key from the old master key to the new one."""

from __future__ import annotations

from events.crypto import MasterKey
from events.keys.keystore import KeyStore, StoredKey, key_aad, unwrap_key

__all__ = ["rewrap", "rotate_master_key"]


def rewrap(stored: StoredKey, old: MasterKey, new: MasterKey) -> StoredKey:
    """Return a stored key wrapped by new instead of old; a destroyed one stays destroyed."""
    if stored.wrapped is None or old.key_id == new.key_id:
        return stored
    aad = key_aad(stored.tenant, stored.subject, stored.key_id)
    return StoredKey(
        tenant=stored.tenant,
        subject=stored.subject,
        key_id=stored.key_id,
        wrapped=new.wrap(unwrap_key(stored, old), aad),
        master_id=new.key_id,
        created_at=stored.created_at,
    )


async def rotate_master_key(store: KeyStore, old: MasterKey, new: MasterKey) -> tuple[int, int]:
    """Rewrap every live data key from old to new; return (rewrapped, already under new)."""
    rewrapped = done = 0
    for stored in await store.all_keys():
        if stored.wrapped is None:
            continue
        if stored.master_id == new.key_id:
            done += 1
            continue
        if await store.rewrap_key(rewrap(stored, old, new), previous_master=old.key_id):
            rewrapped += 1
    return rewrapped, done
