"""Seal a person's words under their data key, and open them again.

A message's content and metadata are sealed under its author's key; a thread's title and
metadata under its creator's: both are that person's words, and an erasure covers both.
"""

from __future__ import annotations

import binascii
import functools
from collections.abc import Mapping
from typing import Any

import orjson

from events.envelope import FrozenMap, freeze_map
from events.keys import DataKey, KeyRing

__all__ = [
    "Opened",
    "chunk_aad",
    "feedback_aad",
    "message_aad",
    "message_data",
    "open_chunk",
    "open_feedback",
    "open_message",
    "open_message_data",
    "open_thread",
    "open_thread_update",
    "seal_chunk",
    "seal_feedback",
    "seal_message",
    "seal_thread",
    "seal_thread_update",
    "sealed_key_id",
    "thread_aad",
    "thread_update_aad",
]

Opened = tuple[str, FrozenMap]


def message_aad(tenant: str, author: str, message_id: str) -> bytes:
    """Bind a sealed message to its tenant, author and id: moved anywhere else, it won't open."""
    return _aad_prefix(tenant, author) + message_id.encode()


@functools.lru_cache(maxsize=4096)
def _aad_prefix(tenant: str, author: str) -> bytes:
    # The join of (b"chat-core message", tenant, author, message_id) up to the message id.
    return b"\x1f".join((b"chat-core message", tenant.encode(), author.encode(), b""))


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
    aad = message_aad(tenant, author, message_id)
    return keys.seal_text(key, plaintext, aad, tenant=tenant, subject=author)


def thread_aad(tenant: str, creator: str, thread_id: str) -> bytes:
    """Bind a sealed thread title to its tenant, creator and id, as message_aad does a message."""
    parts = (b"chat-core thread", tenant.encode(), creator.encode(), thread_id.encode())
    return b"\x1f".join(parts)


def seal_thread(
    keys: KeyRing,
    key: DataKey,
    *,
    tenant: str,
    creator: str,
    thread_id: str,
    title: str | None,
    metadata: Mapping[str, str],
) -> str:
    """Return the base64 sealed form of a thread's title and metadata."""
    plaintext = orjson.dumps({"title": title, "metadata": dict(metadata)})
    aad = thread_aad(tenant, creator, thread_id)
    return keys.seal_text(key, plaintext, aad, tenant=tenant, subject=creator)


def open_thread(
    keys: KeyRing, *, tenant: str, creator: str, thread_id: str, sealed: str
) -> tuple[str | None, FrozenMap] | None:
    """Return a sealed thread's title and metadata, or None once its key is destroyed."""
    plaintext = keys.open_text(tenant, creator, sealed, thread_aad(tenant, creator, thread_id))
    if plaintext is None:
        return None
    data = orjson.loads(plaintext)
    return data["title"], freeze_map(data["metadata"])


def thread_update_aad(tenant: str, updater: str, thread_id: str) -> bytes:
    """Bind a sealed thread update to its tenant, updater and thread, apart from a create's."""
    parts = (b"chat-core thread update", tenant.encode(), updater.encode(), thread_id.encode())
    return b"\x1f".join(parts)


def seal_thread_update(
    keys: KeyRing,
    key: DataKey,
    *,
    tenant: str,
    updater: str,
    thread_id: str,
    words: Mapping[str, object],
) -> str:
    """Return the base64 sealed form of the title and metadata an update sets."""
    plaintext = orjson.dumps(dict(words))
    aad = thread_update_aad(tenant, updater, thread_id)
    return keys.seal_text(key, plaintext, aad, tenant=tenant, subject=updater)


def open_thread_update(
    keys: KeyRing, *, tenant: str, updater: str, thread_id: str, sealed: str
) -> dict[str, object] | None:
    """Return the title and metadata a sealed update set, or None once its key is destroyed."""
    aad = thread_update_aad(tenant, updater, thread_id)
    plaintext = keys.open_text(tenant, updater, sealed, aad)
    if plaintext is None:
        return None
    opened: dict[str, object] = orjson.loads(plaintext)
    if "metadata" in opened:
        opened["metadata"] = freeze_map(opened["metadata"])  # type: ignore[arg-type]
    return opened


def sealed_key_id(sealed: str) -> int:
    """Return the id of the data key a sealed message names.

    binascii's decoder itself, not base64.b64decode's wrapper around it: the fold reads
    the key id of every message it folds.
    """
    return KeyRing.key_id_of(binascii.a2b_base64(sealed[:8]))


def open_message(
    keys: KeyRing, *, tenant: str, author: str, message_id: str, sealed: str, keep: bool = False
) -> Opened | None:
    """Return a sealed message's content and metadata, or None once its key is destroyed.

    With keep, a message this process sealed stays remembered for the next opener (see
    KeyRing.open_text).
    """
    aad = message_aad(tenant, author, message_id)
    plaintext = keys.open_text(tenant, author, sealed, aad, keep=keep)
    if plaintext is None:
        return None
    data = orjson.loads(plaintext)
    return data["content"], freeze_map(data["metadata"])


def open_message_data(
    keys: KeyRing, *, tenant: str, author: str, message_id: str, sealed: str
) -> tuple[Any, dict[str, Any]] | None:
    """Return what open_message returns, the metadata as a plain dict, for bulk export."""
    plaintext = keys.open_text(tenant, author, sealed, message_aad(tenant, author, message_id))
    return None if plaintext is None else message_data(plaintext)


def message_data(plaintext: bytes) -> tuple[Any, dict[str, Any]]:
    """Return the content and metadata (a plain dict) of an opened message."""
    data = orjson.loads(plaintext)
    metadata = data["metadata"]
    # A JSON object is what freeze_map then dict() would give back; anything else goes so.
    return data["content"], metadata if type(metadata) is dict else dict(freeze_map(metadata))


def feedback_aad(tenant: str, rater: str, message_id: str) -> bytes:
    """Bind a sealed feedback comment to its tenant, rater and message."""
    return b"\x1f".join(
        (b"chat-core feedback", tenant.encode(), rater.encode(), message_id.encode())
    )


def seal_feedback(
    keys: KeyRing, key: DataKey, *, tenant: str, rater: str, message_id: str, comment: str
) -> str:
    """Return the base64 sealed form of a rater's comment on a message."""
    aad = feedback_aad(tenant, rater, message_id)
    return keys.seal_text(key, comment.encode(), aad, tenant=tenant, subject=rater)


def open_feedback(
    keys: KeyRing, *, tenant: str, rater: str, message_id: str, sealed: str
) -> str | None:
    """Return a sealed comment, or None once the rater's key is destroyed."""
    plaintext = keys.open_text(tenant, rater, sealed, feedback_aad(tenant, rater, message_id))
    return None if plaintext is None else plaintext.decode()


def chunk_aad(tenant: str, author: str, message_id: str, index: int) -> bytes:
    """Bind a sealed chunk to its message and index: moved to another place, it won't open."""
    return message_aad(tenant, author, f"{message_id}#{index}")


def seal_chunk(
    keys: KeyRing, key: DataKey, *, tenant: str, author: str, message_id: str, index: int, text: str
) -> str:
    """Return the base64 sealed form of a generation's chunk."""
    aad = chunk_aad(tenant, author, message_id, index)
    return keys.seal_text(key, text.encode(), aad, tenant=tenant, subject=author)


def open_chunk(
    keys: KeyRing,
    *,
    tenant: str,
    author: str,
    message_id: str,
    index: int,
    sealed: str,
    keep: bool = False,
) -> str | None:
    """Return a sealed chunk's text, or None once its key is destroyed (keep: open_message's)."""
    aad = chunk_aad(tenant, author, message_id, index)
    plaintext = keys.open_text(tenant, author, sealed, aad, keep=keep)
    return None if plaintext is None else plaintext.decode()
