"""A post and an erasure of its author at once: never an acknowledged post that reads erased."""

from __future__ import annotations

import asyncio

import pytest

from chat_core.bootstrap import ChatCore
from chat_core.commands import CreateThread, EraseSubject, PostMessage
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.errors import Conflict
from chat_core.views import MessageView, ThreadView
from events.crypto import MasterKey, new_data_key
from events.envelope import Env
from events.keys import KeyRing, MemoryKeyStore
from tests.http.helpers import build_core

TENANT = "t_globex"
ADMIN = AuthContext(sub="u_ada", memberships={TENANT: frozenset({Role.MEMBER, Role.ADMIN})})
BOB = AuthContext(sub="u_bob", memberships={TENANT: frozenset({Role.MEMBER})})


def _context(request_id: str) -> RequestContext:
    return RequestContext(tenant=TENANT, env=Env.DEV, request_id=request_id)


def _post(thread_id: str, content: str) -> PostMessage:
    return PostMessage(
        context=_context(f"req-{content}"),
        auth=BOB,
        thread_id=thread_id,
        role="user",
        content=content,
    )


async def _messages(core: ChatCore, thread_id: str) -> list[MessageView]:
    page = await core.queries.list_messages(
        _context("req-read"), ADMIN, thread_id, limit=100, after=None, order="asc"
    )
    return list(page.data)


async def test_a_post_waiting_its_turn_when_its_author_is_erased_is_refused() -> None:
    core = await build_core()
    try:
        thread = await core.bus.send(CreateThread(context=_context("req-t"), auth=ADMIN))
        assert isinstance(thread, ThreadView)
        await core.bus.send(_post(thread.id, "before"))  # Bob's key exists and is cached

        # The post takes Bob's key and queues on its thread; the erasure destroys that
        # key before the thread's writer gets to the post.
        posting = asyncio.create_task(core.bus.send(_post(thread.id, "during")))
        await asyncio.sleep(0)
        erased = await core.bus.send(
            EraseSubject(context=_context("req-erase"), auth=ADMIN, subject="u_bob")
        )
        with pytest.raises(Conflict, match="erased while this post was in flight"):
            await posting

        # Nothing was acknowledged that reads erased; posting again starts afresh.
        after = await core.bus.send(_post(thread.id, "after"))
        assert isinstance(after, MessageView)
        shown = {message.seq: message for message in await _messages(core, thread.id)}
    finally:
        await core.close()
    assert erased is not None
    assert [shown[seq].erased for seq in sorted(shown)] == [True, False]
    assert shown[2].content == "after"


async def test_an_erasure_seen_in_the_log_ends_the_keys_it_names_and_no_later_one() -> None:
    keys = KeyRing(MemoryKeyStore(), MasterKey(new_data_key()))
    first = await keys.writing_key(TENANT, "u_bob")
    sealed = keys.seal(first, b"words", b"aad")

    # Another instance destroyed key 1 and recorded it; this one learns it from the log.
    await keys.store.destroy_keys(TENANT, "u_bob")
    keys.destroyed_through(TENANT, "u_bob", first.key_id)
    assert not keys.still_live(TENANT, "u_bob", first)
    assert keys.open(TENANT, "u_bob", sealed, b"aad") is None

    second = await keys.writing_key(TENANT, "u_bob")
    assert second.key_id == first.key_id + 1
    keys.destroyed_through(TENANT, "u_bob", first.key_id)  # the same erasure, seen again
    assert keys.still_live(TENANT, "u_bob", second)
