"""The core follows its own log: one follower per process feeds every consumer of events.

No HTTP app here: what a bootstrapped core learns from the log, it learns by itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat_core.bootstrap import ChatCore, bootstrap
from chat_core.commands import CreateThread, EraseSubject, PostMessage
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.hub import HubStopped
from chat_core.payloads import ErasureRecorded, MessageRedacted
from chat_core.settings import Settings
from chat_core.state import thread_stream
from chat_core.views import MessageView, ThreadView
from events.envelope import Env
from events.store.base import RecordedEvent
from tests.events.factories import make_event
from tests.pg import fresh_database

TENANT = "t_globex"
ADMIN = AuthContext(sub="u_ada", memberships={TENANT: frozenset({Role.MEMBER, Role.ADMIN})})
BOB = AuthContext(sub="u_bob", memberships={TENANT: frozenset({Role.MEMBER})})
CONTEXT = RequestContext(tenant=TENANT, env=Env.DEV, request_id="req-follower")
FOLLOWER_TASK = "chat-core log follower"


def _settings(store_url: str, master_key: bytes | None = None) -> Settings:
    return Settings(hs256_secret=b"x" * 32, store_url=store_url, master_key=master_key)


async def _thread(core: ChatCore) -> str:
    view = await core.bus.send(CreateThread(context=CONTEXT, auth=ADMIN))
    assert isinstance(view, ThreadView)
    return view.id


async def _post(core: ChatCore, thread_id: str, content: str, auth: AuthContext) -> MessageView:
    answer = await core.bus.send(
        PostMessage(context=CONTEXT, auth=auth, thread_id=thread_id, role="user", content=content)
    )
    assert isinstance(answer, MessageView)
    return answer


async def _contents(core: ChatCore, thread_id: str) -> list[str | None]:
    page = await core.queries.list_messages(
        CONTEXT, ADMIN, thread_id, limit=100, after=None, order="asc"
    )
    return [message.content for message in page.data]


def _waiter(core: ChatCore, event_type: str) -> asyncio.Event:
    """Return an asyncio.Event set once the core's bus publishes an event of the type.

    Subscribed after bootstrap, so it runs after the core's own subscribers of that type.
    """
    seen = asyncio.Event()
    core.bus.subscribe(lambda _item: seen.set(), event_type=event_type)
    return seen


class _Recorder:
    """A subscriber that keeps what it is given and lets a test wait for a count of them."""

    def __init__(self) -> None:
        self.items: list[RecordedEvent] = []
        self._moved = asyncio.Event()

    def __call__(self, item: RecordedEvent) -> None:
        self.items.append(item)
        self._moved.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.items) < count:
                self._moved.clear()
                await self._moved.wait()


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[ChatCore]:
    core = await bootstrap(settings=_settings(f"sqlite:///{tmp_path / 'chat.db'}"))
    yield core
    await core.close()


@pytest.mark.postgres
async def test_an_erasure_through_one_core_is_seen_by_another_on_the_same_database() -> None:
    master = os.urandom(32)
    async with fresh_database() as url:
        first = await bootstrap(settings=_settings(url, master))
        second = await bootstrap(settings=_settings(url, master))
        try:
            thread_id = await _thread(first)
            await _post(first, thread_id, "bob's words", BOB)
            await _post(first, thread_id, "ada's words", ADMIN)
            # The second core has the thread in its cache, Bob's words opened.
            assert await _contents(second, thread_id) == ["bob's words", "ada's words"]
            erased = _waiter(second, ErasureRecorded.event_type)
            await first.bus.send(EraseSubject(context=CONTEXT, auth=ADMIN, subject="u_bob"))
            async with asyncio.timeout(10):
                await erased.wait()
            assert await _contents(second, thread_id) == [None, "ada's words"]
        finally:
            await first.close()
            await second.close()


async def test_the_hub_gets_every_appended_event_through_the_follower(core: ChatCore) -> None:
    thread_id = await _thread(core)
    stream = thread_stream(CONTEXT, thread_id)
    subscription = core.hub.open(stream, 16)
    posted = await _post(core, thread_id, "hello", BOB)
    # Appended to the store directly, as another instance or the CLI would: the hub's feed
    # is the log, not the writer that answered the post above.
    redaction = make_event(
        stream,
        3,
        tenant=TENANT,
        payload=MessageRedacted(thread_id=thread_id, message_id=posted.id, seq=posted.seq),
    )
    await core.store.append(stream, [redaction], expected_version=2)
    async with asyncio.timeout(10):
        live = [await subscription.next(), await subscription.next()]
    assert [item.event.version for item in live if item is not None] == [2, 3]
    assert [type(item.event.payload) for item in live if item is not None][1] is MessageRedacted
    core.hub.release(subscription)


async def test_the_follower_publishes_each_event_after_the_head_once_in_order(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    earlier = await bootstrap(settings=_settings(url))
    thread_id = await _thread(earlier)
    first = await _post(earlier, thread_id, "before", BOB)
    await earlier.close()
    core = await bootstrap(settings=_settings(url))
    try:
        head = await core.store.head_position()
        published = _Recorder()
        core.bus.subscribe(published)
        await asyncio.gather(*(_post(core, thread_id, f"m{n}", BOB) for n in range(40)))
        others = [await _thread(core) for _ in range(5)]
        await asyncio.gather(*(_post(core, other, "x", BOB) for other in others))
        # And one appended around the core's writer, as the CLI or another process would.
        stream = thread_stream(CONTEXT, thread_id)
        version = await core.store.stream_version(stream)
        withdrawn = MessageRedacted(thread_id=thread_id, message_id=first.id, seq=first.seq)
        await core.store.append(
            stream, [make_event(stream, version + 1, tenant=TENANT, payload=withdrawn)], version
        )
        last = await core.store.head_position()
        await published.wait_for(last - head)
        assert [item.position for item in published.items] == list(range(head + 1, last + 1))
    finally:
        await core.close()


async def test_a_failing_subscriber_is_logged_and_the_others_still_get_every_event(
    core: ChatCore, caplog: pytest.LogCaptureFixture
) -> None:
    thread_id = await _thread(core)
    subscription = core.hub.open(thread_stream(CONTEXT, thread_id), 16)
    after = _Recorder()

    def broken(item: RecordedEvent) -> None:
        raise RuntimeError("a consumer's bug")

    core.bus.subscribe(broken)
    core.bus.subscribe(after)
    with caplog.at_level(logging.ERROR, logger="events.bus"):
        await _post(core, thread_id, "one", BOB)
        await _post(core, thread_id, "two", BOB)
        await after.wait_for(2)
        async with asyncio.timeout(10):
            live = [await subscription.next(), await subscription.next()]
    assert [item.event.version for item in live if item is not None] == [2, 3]
    assert [item.event.version for item in after.items] == [2, 3]
    failures = [r for r in caplog.records if "broken" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in failures)
    assert core.follower.running


async def test_close_stops_the_follower_and_ends_live_streams(tmp_path: Path) -> None:
    core = await bootstrap(settings=_settings(f"sqlite:///{tmp_path / 'chat.db'}"))
    assert core.follower.running
    assert FOLLOWER_TASK in {task.get_name() for task in asyncio.all_tasks()}
    subscription = core.hub.open(thread_stream(CONTEXT, await _thread(core)), 16)
    await core.close()
    assert not core.follower.running
    assert FOLLOWER_TASK not in {task.get_name() for task in asyncio.all_tasks()}
    with pytest.raises(HubStopped):
        await subscription.next()
    with pytest.raises(HubStopped):
        await core.hub.open("any/stream", 16).next()
