"""Rendered message pages are served again only while their thread is unchanged.

A page answered from the cache must read exactly as one rendered afresh: after a post, a
redaction, an erasure or a reload of the thread it is rendered again, and access is checked
on every request before the cache is asked.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from chat_core.bootstrap import ChatCore, bootstrap
from chat_core.caches import PageCache
from chat_core.commands import CreateThread, EraseSubject, PostMessage, RedactMessage
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.errors import Forbidden, NotFound
from chat_core.settings import Settings
from chat_core.state import FIRST, RECENT, ThreadState
from chat_core.views import MessageView, Page, ThreadView
from events.envelope import Env

CONTEXT = RequestContext(tenant="t_acme", env=Env.DEV, request_id="r-1")
ADA = AuthContext(sub="u_ada", memberships={"t_acme": frozenset({Role.MEMBER})})
BOB = AuthContext(sub="u_bob", memberships={"t_acme": frozenset({Role.MEMBER})})
ADMIN = AuthContext(sub="u_root", memberships={"t_acme": frozenset({Role.ADMIN})})
STRANGER = AuthContext(sub="u_eve", memberships={"t_other": frozenset({Role.MEMBER})})


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[ChatCore]:
    settings = Settings(hs256_secret=b"x" * 32, store_url=f"sqlite:///{tmp_path}/chat.db")
    core = await bootstrap(settings=settings)
    yield core
    await core.close()


async def _thread(core: ChatCore, posts: int) -> str:
    view = await core.bus.send(CreateThread(context=CONTEXT, auth=ADA))
    assert isinstance(view, ThreadView)
    for index in range(posts):
        await _post(core, view.id, f"m{index}", ADA if index % 2 else BOB)
    return view.id


async def _post(core: ChatCore, thread_id: str, content: str, auth: AuthContext) -> MessageView:
    answer = await core.bus.send(
        PostMessage(context=CONTEXT, auth=auth, thread_id=thread_id, role="user", content=content)
    )
    assert isinstance(answer, MessageView)
    return answer


async def _page(
    core: ChatCore, thread_id: str, *, order: str = "asc", limit: int = 3, after: str | None = None
) -> Page:
    return await core.queries.list_messages(
        CONTEXT, ADA, thread_id, limit=limit, after=after, order=order
    )


def _fresh(page: Page) -> bytes:
    """Render a page's content again from its views, bypassing every memo."""
    return orjson.dumps(page.to_json())


async def test_an_unchanged_thread_serves_the_same_page(core: ChatCore) -> None:
    thread_id = await _thread(core, 5)
    for order in ("asc", "desc"):
        first = await _page(core, thread_id, order=order)
        again = await _page(core, thread_id, order=order)
        assert again is first
        assert orjson.loads(again.json_bytes()) == orjson.loads(_fresh(first))
        follow = await _page(core, thread_id, order=order, after=first.next)
        assert (
            follow is not first
            and await _page(core, thread_id, order=order, after=first.next) is follow
        )


async def test_a_post_renders_the_page_again(core: ChatCore) -> None:
    thread_id = await _thread(core, 2)
    before = await _page(core, thread_id, order="desc")
    posted = await _post(core, thread_id, "newest", ADA)
    after = await _page(core, thread_id, order="desc")
    assert after is not before
    assert after.data[0] == posted and orjson.loads(after.json_bytes())["data"][0]["seq"] == 3
    asc = await _page(core, thread_id, limit=2)
    assert asc.has_more and asc.next is not None


async def test_a_redaction_renders_the_page_again(core: ChatCore) -> None:
    thread_id = await _thread(core, 3)
    before = await _page(core, thread_id)
    target = before.data[1]
    assert isinstance(target, MessageView)
    await core.bus.send(
        RedactMessage(context=CONTEXT, auth=ADMIN, thread_id=thread_id, message_id=target.id)
    )
    after = await _page(core, thread_id)
    shown = orjson.loads(after.json_bytes())["data"][1]
    assert shown["redacted"] is True and shown["content"] is None


async def test_an_erasure_renders_the_page_again_without_the_words(core: ChatCore) -> None:
    thread_id = await _thread(core, 4)
    before = await _page(core, thread_id, limit=4)
    assert b"m0" in before.json_bytes()  # u_bob wrote m0 and m2
    await core.bus.send(EraseSubject(context=CONTEXT, auth=ADMIN, subject="u_bob"))
    after = await _page(core, thread_id, limit=4)
    assert after is not before
    body = after.json_bytes()
    assert b'"m0"' not in body and b'"m2"' not in body and b'"m1"' in body
    erased = [item for item in orjson.loads(body)["data"] if item["author"] == "u_bob"]
    assert erased and all(item["erased"] and item["content"] is None for item in erased)


async def test_a_reloaded_thread_renders_the_page_again(core: ChatCore) -> None:
    thread_id = await _thread(core, 3)
    before = await _page(core, thread_id)
    core.queries._threads.forget(f"chat/t_acme/dev/{thread_id}")  # evicted, say
    after = await _page(core, thread_id)
    assert after is not before and after.json_bytes() == before.json_bytes()


async def test_access_is_checked_before_the_cache(core: ChatCore) -> None:
    thread_id = await _thread(core, 2)
    await _page(core, thread_id)
    with pytest.raises(Forbidden):
        await core.queries.list_messages(
            CONTEXT, STRANGER, thread_id, limit=3, after=None, order="asc"
        )
    elsewhere = RequestContext(tenant="t_acme", env=Env.PROD, request_id="r-2")
    with pytest.raises(NotFound):
        await core.queries.list_messages(
            elsewhere, ADA, thread_id, limit=3, after=None, order="asc"
        )


async def test_pages_read_back_from_the_store_are_not_kept(core: ChatCore) -> None:
    # Seqs FIRST + 1 .. FIRST + 10 are kept in neither list: a page over them is read back.
    thread_id = await _thread(core, FIRST + RECENT + 10)
    cursor = None
    page = await _page(core, thread_id, limit=100)
    while not any(FIRST < view.seq <= FIRST + 10 for view in page.data):
        cursor = page.next
        page = await _page(core, thread_id, limit=100, after=cursor)
    assert await _page(core, thread_id, limit=100, after=cursor) is not page
    kept = await _page(core, thread_id, limit=100)
    assert await _page(core, thread_id, limit=100) is kept


def _page_of(size: int) -> Page:
    view = MessageView(
        id="msg_1",
        thread_id="th_1",
        seq=1,
        role="user",
        content="x" * size,
        metadata={},
        author="u_ada",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        request_id="r",
    )
    return Page(data=(view,), has_more=False, next=None)


def test_the_cache_keeps_at_most_its_budget_least_recently_used_first_out() -> None:
    state = ThreadState(version=1)
    one = len(_page_of(1000).json_bytes())
    cache = PageCache(budget=3 * one)
    for key in "abc":
        cache.put(key, state, _page_of(1000))
    assert cache.get("a", state) is not None  # a is now the most recent
    cache.put("d", state, _page_of(1000))
    assert cache.get("b", state) is None and cache.get("a", state) is not None
    assert cache.size <= 3 * one
    cache.put("huge", state, _page_of(10 * one))
    assert cache.get("huge", state) is None and cache.size <= 3 * one
    state.version = 2
    assert cache.get("a", state) is None


def test_a_page_does_not_keep_its_thread_alive() -> None:
    cache = PageCache()
    state = ThreadState(version=1)
    cache.put("a", state, _page_of(10))
    gone = weakref.ref(state)
    del state
    gc.collect()
    assert gone() is None
    assert cache.get("a", ThreadState(version=1)) is None
