"""The per-stream writer: batching, pipelining and retries keep seq gap-free and lose nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chat_core.bootstrap import ChatCore, bootstrap
from chat_core.commands import CreateThread, PostMessage
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.errors import NotFound
from chat_core.payloads import MessagePosted
from chat_core.settings import Settings
from chat_core.state import thread_stream
from chat_core.views import MessageView, ThreadView
from events.envelope import DatasetEvent, Env
from events.store import open_store
from events.store.memory import MemoryEventStore
from events.store.sqlite import SQLiteEventStore

CONTEXT = RequestContext(tenant="t_acme", env=Env.DEV, request_id="r-1")
AUTH = AuthContext(sub="u_ada", memberships={"t_acme": frozenset({Role.MEMBER})})


async def _core(tmp_path: Path, backend: str) -> ChatCore:
    settings = Settings(hs256_secret=b"x" * 32, store_url=f"sqlite:///{tmp_path}/chat.db")
    store = MemoryEventStore() if backend == "memory" else None
    return await bootstrap(settings=settings, store=store)


async def _thread(core: ChatCore) -> str:
    view = await core.bus.send(CreateThread(context=CONTEXT, auth=AUTH))
    assert isinstance(view, ThreadView)
    return view.id


def _post(thread_id: str, content: str) -> PostMessage:
    return PostMessage(
        context=CONTEXT, auth=AUTH, thread_id=thread_id, role="user", content=content
    )


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_concurrent_posts_to_one_thread_get_gap_free_seqs(
    tmp_path: Path, backend: str
) -> None:
    core = await _core(tmp_path, backend)
    thread_id = await _thread(core)
    answers = await asyncio.gather(*(core.bus.send(_post(thread_id, f"m{i}")) for i in range(300)))
    seqs = sorted(answer.seq for answer in answers if isinstance(answer, MessageView))
    stored = await core.store.read_stream(thread_stream(CONTEXT, thread_id))
    await core.close()
    assert seqs == list(range(1, 301))
    assert [item.event.version for item in stored] == list(range(1, 302))
    contents = {answer.content for answer in answers if isinstance(answer, MessageView)}
    assert contents == {f"m{i}" for i in range(300)}


async def test_a_refused_command_fails_alone_in_its_batch(tmp_path: Path) -> None:
    core = await _core(tmp_path, "memory")
    thread_id = await _thread(core)
    commands = [_post(thread_id, "a"), _post("th_missing", "b"), _post(thread_id, "c")]
    results = await asyncio.gather(*(core.bus.send(c) for c in commands), return_exceptions=True)
    await core.close()
    assert isinstance(results[1], NotFound)
    assert sorted(r.seq for r in results if isinstance(r, MessageView)) == [1, 2]


async def test_a_foreign_write_makes_queued_posts_retry_on_top_of_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    core = await bootstrap(settings=Settings(hs256_secret=b"x" * 32, store_url=url))
    thread_id = await _thread(core)
    stream = thread_stream(CONTEXT, thread_id)
    # A second writer on the same file, as another instance would be.
    other = await open_store(url, codec=core.codec)
    foreign = DatasetEvent(
        event_id=uuid.uuid4(),
        stream=stream,
        version=2,
        tenant="t_acme",
        env=Env.DEV,
        request_id="r-foreign",
        trace_id="r-foreign",
        actor="u_bob",
        occurred_at=datetime.now(UTC),
        payload=MessagePosted(
            thread_id=thread_id, message_id="msg_foreign", seq=1, role="user", content="x"
        ),
    )
    await other.append(stream, [foreign], 1)
    answers = await asyncio.gather(*(core.bus.send(_post(thread_id, f"m{i}")) for i in range(20)))
    stored = await other.read_stream(stream)
    await other.close()
    await core.close()
    assert sorted(a.seq for a in answers if isinstance(a, MessageView)) == list(range(2, 22))
    seqs = [
        item.event.payload.seq for item in stored if isinstance(item.event.payload, MessagePosted)
    ]
    assert seqs == list(range(1, 22))


async def test_the_thread_cache_is_bounded_by_messages_and_evicted_threads_reload(
    tmp_path: Path,
) -> None:
    settings = Settings(hs256_secret=b"x" * 32, store_url=f"sqlite:///{tmp_path}/chat.db")
    core = await bootstrap(settings=settings, cache_capacity=12)
    first, second = await _thread(core), await _thread(core)
    for thread_id in (first, second):
        for i in range(8):
            await core.bus.send(_post(thread_id, f"{thread_id}-{i}"))
    page = await core.queries.list_messages(
        CONTEXT, AUTH, first, limit=100, after=None, order="asc"
    )
    await core.close()
    assert [m.seq for m in page.data if isinstance(m, MessageView)] == list(range(1, 9))
    assert [m.content for m in page.data if isinstance(m, MessageView)] == [
        f"{first}-{i}" for i in range(8)
    ]


async def test_callers_answered_together_share_the_next_commit(tmp_path: Path) -> None:
    """Two groups of callers that each post again once answered merge into one batch.

    The second group queues while the first one's batch commits. Launched the moment the
    first lands, it would commit alone, and the groups would alternate for good (one
    commit per group and round, 50 here); the writer lingers a few loop turns for the
    answered callers instead, so a round costs one commit.
    """
    core = await _core(tmp_path, "sqlite")
    thread_id = await _thread(core)
    assert isinstance(core.store, SQLiteEventStore)
    stats = core.store.stats
    before = stats.commits

    async def caller(name: str) -> list[int]:
        seqs = []
        for round_ in range(25):
            answer = await core.bus.send(_post(thread_id, f"{name}-{round_}"))
            assert isinstance(answer, MessageView)
            seqs.append(answer.seq)
        return seqs

    first = [asyncio.create_task(caller(f"a{n}")) for n in range(4)]
    for _ in range(5):  # the first group's batch reaches the store's writer
        await asyncio.sleep(0)
    second = [asyncio.create_task(caller(f"b{n}")) for n in range(4)]
    results = await asyncio.gather(*first, *second)
    commits = stats.commits - before
    await core.close()
    assert sorted(seq for seqs in results for seq in seqs) == list(range(1, 201))
    assert commits <= 35, f"{commits} commits for 25 rounds of 8 callers"
