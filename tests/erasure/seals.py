"""A key ring with a fresh master key, and a message sealed under its author's key."""

from __future__ import annotations

from chat_core.sealing import seal_message
from events.crypto import MasterKey, new_data_key
from events.keys import KeyRing, MemoryKeyStore

__all__ = ["AUTHOR", "TENANT", "ring", "seal_one"]

TENANT, AUTHOR = "t_acme", "u_ann"


def ring() -> KeyRing:
    """Return a key ring over an in-memory key store."""
    return KeyRing(MemoryKeyStore(), MasterKey(new_data_key()))


async def seal_one(keys: KeyRing, message_id: str = "msg_1", *, content: str = "hello") -> str:
    """Seal a message by AUTHOR in TENANT, with metadata {"k": "v"}."""
    key = await keys.writing_key(TENANT, AUTHOR)
    return seal_message(
        keys,
        key,
        tenant=TENANT,
        author=AUTHOR,
        message_id=message_id,
        content=content,
        metadata={"k": "v"},
    )
