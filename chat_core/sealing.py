"""Seal a message's content and metadata under its author's data key, and open it again."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import orjson

from events.envelope import FrozenMap, freeze_map
from events.keys import DataKey, KeyRing

__all__ = ["Opened", "message_aad", "open_message", "seal_message", "sealed_key_id"]

Opened = tuple[str, FrozenMap]


def message_aad(tenant: str, author: str, message_id: str) -> bytes:
    """Bind a sealed message to its tenant, author and id: moved anywhere else, it won't open."""
    return b"\x1f".join(
        (b"chat-core message", tenant.encode(), author.encode(), message_id.encode())
    )


def seal_message(
    keys: KeyRing,
    key: DataKey,
    *,
    tenant: str,
    author: str,
    message_id: str,
    content: str,
    metadata: Mapping[str, str],
) -> str:
    """Return the base64 sealed form of a message's content and metadata."""
    plaintext = orjson.dumps({"content": content, "metadata": dict(metadata)})
    sealed = keys.seal(key, plaintext, message_aad(tenant, author, message_id))
    return base64.b64encode(sealed).decode("ascii")


def sealed_key_id(sealed: str) -> int:
    """Return the id of the data key a sealed message names."""
    return KeyRing.key_id_of(base64.b64decode(sealed[:8]))


def open_message(
    keys: KeyRing, *, tenant: str, author: str, message_id: str, sealed: str
) -> Opened | None:
    """Return a sealed message's content and metadata, or None once its key is destroyed."""
    plaintext = keys.open(
        tenant, author, base64.b64decode(sealed), message_aad(tenant, author, message_id)
    )
    if plaintext is None:
        return None
    data = orjson.loads(plaintext)
    return data["content"], freeze_map(data["metadata"])
