"""Text sealed moments ago opens from memory, exactly as decryption would open it, or not at all."""

from __future__ import annotations

import base64

import pytest

from chat_core.sealing import message_aad, open_message
from events.crypto import SealBroken
from events.keys import KeyRing
from events.keys.ring import RECENT_SEALS
from tests.erasure.seals import AUTHOR, TENANT, ring, seal_one


def _open(keys: KeyRing, message_id: str, sealed: str) -> object:
    return open_message(keys, tenant=TENANT, author=AUTHOR, message_id=message_id, sealed=sealed)


async def test_a_fresh_seal_opens_to_what_decryption_gives() -> None:
    keys = ring()
    sealed = await seal_one(keys, "msg_1")
    aad = message_aad(TENANT, AUTHOR, "msg_1")
    decrypted = keys.open(TENANT, AUTHOR, base64.b64decode(sealed), aad)
    assert keys.open_text(TENANT, AUTHOR, sealed, aad) == decrypted
    # Once opened it is forgotten: the second open decrypts, to the same words.
    assert _open(keys, "msg_1", sealed) == ("hello", {"k": "v"})


async def test_a_fresh_seal_whose_author_is_erased_opens_as_erased() -> None:
    keys = ring()
    sealed = await seal_one(keys, "msg_1")
    await keys.destroy(TENANT, AUTHOR)
    assert _open(keys, "msg_1", sealed) is None


async def test_a_fresh_seal_erased_by_another_process_opens_as_erased() -> None:
    keys = ring()
    sealed = await seal_one(keys, "msg_1")
    key = await keys.writing_key(TENANT, AUTHOR)
    keys.destroyed_through(TENANT, AUTHOR, key.key_id)
    assert _open(keys, "msg_1", sealed) is None


async def test_a_fresh_seal_moved_to_another_message_is_refused() -> None:
    keys = ring()
    sealed = await seal_one(keys, "msg_1")
    with pytest.raises(SealBroken):
        _open(keys, "msg_2", sealed)


async def test_remembered_seals_are_bounded_and_the_oldest_still_open() -> None:
    keys = ring()
    first = await seal_one(keys, "msg_0", content="first")
    for number in range(1, RECENT_SEALS + 10):
        await seal_one(keys, f"msg_{number}")
    assert len(keys._recent) == RECENT_SEALS
    assert _open(keys, "msg_0", first) == ("first", {"k": "v"})


async def test_a_fresh_seal_whose_key_is_gone_from_the_store_opens_as_erased() -> None:
    keys = ring()
    sealed = await seal_one(keys, "msg_1")
    # Another process erased the author straight in the store; this one reads the keys again.
    await keys.store.destroy_keys(TENANT, AUTHOR)
    keys.forget(TENANT, AUTHOR)
    await keys.prefetch([(TENANT, AUTHOR)])
    assert _open(keys, "msg_1", sealed) is None
