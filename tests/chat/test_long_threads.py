"""Threads longer than the messages kept in memory: every page, redaction and lookup still holds.

A thread's read model keeps its FIRST oldest and RECENT newest messages; those between are
read back from the stream by the marks it keeps every STRIDE messages. These tests walk
threads past all three.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chat_core.bootstrap import ChatCore, bootstrap
from chat_core.commands import CreateThread, EraseSubject, PostMessage, RedactMessage
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.errors import NotFound
from chat_core.fold import apply_event
from chat_core.payloads import MessagePosted, ThreadCreated
from chat_core.settings import Settings
from chat_core.state import FIRST, RECENT, STRIDE, ThreadState, seq_in_message_id, thread_stream
from chat_core.views import MessageView, ThreadView
from events.envelope import DatasetEvent, Env
from events.store.memory import MemoryEventStore

CONTEXT = RequestContext(tenant="t_acme", env=Env.DEV, request_id="r-1")
ADA = AuthContext(sub="u_ada", memberships={"t_acme": frozenset({Role.MEMBER})})
BOB = AuthContext(sub="u_bob", memberships={"t_acme": frozenset({Role.MEMBER})})
ADMIN = AuthContext(sub="u_root", memberships={"t_acme": frozenset({Role.ADMIN})})
# More than two marks between the first and recent messages kept, a multiple of neither.
COUNT = FIRST + RECENT + 2 * STRIDE + 7


async def _core(tmp_path: Path, backend: str) -> ChatCore:
    settings = Settings(hs256_secret=b"x" * 32, store_url=f"sqlite:///{tmp_path}/chat.db")
    store = MemoryEventStore() if backend == "memory" else None
    return await bootstrap(settings=settings, store=store)


async def _long_thread(core: ChatCore) -> tuple[str, dict[int, MessageView]]:
    """Open a thread and post COUNT messages to it, by two authors; return them by seq."""
    view = await core.bus.send(CreateThread(context=CONTEXT, auth=ADA))
    assert isinstance(view, ThreadView)
    posted: dict[int, MessageView] = {}
    for start in range(0, COUNT, 64):
        answers = await asyncio.gather(
            *(
                core.bus.send(
                    PostMessage(
                        context=CONTEXT,
                        auth=ADA if index % 3 else BOB,
                        thread_id=view.id,
                        role="user",
                        content=f"m{index}",
                    )
                )
                for index in range(start, min(start + 64, COUNT))
            )
        )
        for answer in answers:
            assert isinstance(answer, MessageView)
            posted[answer.seq] = answer
    assert sorted(posted) == list(range(1, COUNT + 1))
    return view.id, posted


async def _walk(core: ChatCore, thread_id: str, order: str, limit: int) -> list[MessageView]:
    """Read every page of a thread in one order, following the cursors."""
    seen: list[MessageView] = []
    after: str | None = None
    while True:
        page = await core.queries.list_messages(
            CONTEXT, ADA, thread_id, limit=limit, after=after, order=order
        )
        seen.extend(view for view in page.data if isinstance(view, MessageView))
        if not page.has_more:
            return seen
        assert page.next is not None
        after = page.next


def _redact(thread_id: str, message_id: str) -> RedactMessage:
    return RedactMessage(context=CONTEXT, auth=ADMIN, thread_id=thread_id, message_id=message_id)


def _content(views: list[MessageView]) -> list[tuple[int, str | None, bool, bool]]:
    return [(view.seq, view.content, view.redacted, view.erased) for view in views]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
@pytest.mark.parametrize(("order", "limit"), [("asc", 100), ("desc", 37), ("asc", 1)])
async def test_every_page_of_a_long_thread_reads_back_what_was_posted(
    tmp_path: Path, backend: str, order: str, limit: int
) -> None:
    core = await _core(tmp_path, backend)
    try:
        thread_id, posted = await _long_thread(core)
        seen = await _walk(core, thread_id, order, limit)
    finally:
        await core.close()
    expected = [posted[seq] for seq in sorted(posted, reverse=order == "desc")]
    assert _content(seen) == _content(expected)
    assert [view.id for view in seen] == [view.id for view in expected]
    assert {view.author for view in seen} == {"u_ada", "u_bob"}


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_old_and_recent_messages_are_redacted_once_and_reads_show_it(
    tmp_path: Path, backend: str
) -> None:
    core = await _core(tmp_path, backend)
    try:
        thread_id, posted = await _long_thread(core)
        oldest, middle, newest = posted[1], posted[FIRST + 1], posted[COUNT]
        for message in (oldest, middle, newest):
            await core.bus.send(_redact(thread_id, message.id))
        head = await core.store.head_position()
        await core.bus.send(_redact(thread_id, oldest.id))
        assert await core.store.head_position() == head, "a repeated redaction appended"
        seen = await _walk(core, thread_id, "asc", 100)
    finally:
        await core.close()
    redacted = [view.seq for view in seen if view.redacted]
    assert redacted == [1, FIRST + 1, COUNT]
    assert all(view.content is None for view in seen if view.redacted)
    assert seen[1].content == posted[2].content


@pytest.mark.parametrize(
    "message_id",
    ["msg_1-notthisone", "msg_ffff-beyond", "msg_0-zero", "msg_noseq", "msg_2-"],
)
async def test_ids_that_name_no_message_of_the_thread_are_404(
    tmp_path: Path, message_id: str
) -> None:
    core = await _core(tmp_path, "memory")
    try:
        thread_id, _posted = await _long_thread(core)
        head = await core.store.head_position()
        with pytest.raises(NotFound):
            await core.bus.send(_redact(thread_id, message_id))
        assert await core.store.head_position() == head
    finally:
        await core.close()


async def test_a_message_of_another_thread_is_404(tmp_path: Path) -> None:
    core = await _core(tmp_path, "memory")
    try:
        _thread_id, posted = await _long_thread(core)
        other = await core.bus.send(CreateThread(context=CONTEXT, auth=ADA))
        assert isinstance(other, ThreadView)
        with pytest.raises(NotFound):
            await core.bus.send(_redact(other.id, posted[1].id))
    finally:
        await core.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_erased_authors_old_messages_read_back_erased(tmp_path: Path, backend: str) -> None:
    core = await _core(tmp_path, backend)
    try:
        thread_id, posted = await _long_thread(core)
        await core.bus.send(EraseSubject(context=CONTEXT, auth=ADMIN, subject="u_bob"))
        seen = await _walk(core, thread_id, "asc", 100)
    finally:
        await core.close()
    erased = {view.seq for view in seen if view.erased}
    assert erased == {seq for seq, view in posted.items() if view.author == "u_bob"}
    assert all(view.content is None for view in seen if view.erased)
    assert all(view.content == posted[view.seq].content for view in seen if not view.erased)


async def test_memory_held_for_a_thread_is_bounded_by_recent(tmp_path: Path) -> None:
    core = await _core(tmp_path, "memory")
    try:
        thread_id, _posted = await _long_thread(core)
        state = ThreadState()
        for item in await core.store.read_stream(thread_stream(CONTEXT, thread_id)):
            apply_event(state, item.event)
    finally:
        await core.close()
    assert (state.message_count, len(state.first), len(state.recent)) == (COUNT, FIRST, RECENT)
    assert [message.seq for message in state.first] == list(range(1, FIRST + 1))
    assert [message.seq for message in state.recent] == list(range(COUNT - RECENT + 1, COUNT + 1))
    assert len(state.marks) == -(-COUNT // STRIDE)
    assert state.unnamed == {}, "ids made now name their seq; none needs an index"


def _legacy_events(stream: str, thread_id: str, count: int) -> Iterator[DatasetEvent]:
    """A thread written before ids named their seq: ids a lookup cannot parse, or misparses."""
    yield _event(stream, 1, ThreadCreated(thread_id=thread_id, title=None))
    for seq in range(1, count + 1):
        # Every other id looks like a new one but names the wrong seq.
        message_id = f"msg_{seq + 1:x}-legacy{seq}" if seq % 2 else f"msg_legacy{seq}"
        payload = MessagePosted(
            thread_id=thread_id, message_id=message_id, seq=seq, role="user", content=f"old {seq}"
        )
        yield _event(stream, seq + 1, payload)


def _event(stream: str, version: int, payload: ThreadCreated | MessagePosted) -> DatasetEvent:
    return DatasetEvent(
        event_id=uuid.uuid4(),
        stream=stream,
        version=version,
        tenant="t_acme",
        env=Env.DEV,
        request_id=f"r-{version}",
        trace_id=f"r-{version}",
        actor="u_ada",
        occurred_at=datetime.now(UTC),
        payload=payload,
    )


async def test_ids_made_before_they_named_their_seq_are_still_found(tmp_path: Path) -> None:
    core = await _core(tmp_path, "memory")
    thread_id = "th_legacy"
    stream = thread_stream(CONTEXT, thread_id)
    await core.store.append(stream, list(_legacy_events(stream, thread_id, COUNT)), 0)
    try:
        for seq in (1, 2, COUNT - RECENT - 1, COUNT):
            message_id = f"msg_{seq + 1:x}-legacy{seq}" if seq % 2 else f"msg_legacy{seq}"
            assert seq_in_message_id(message_id) != seq
            await core.bus.send(_redact(thread_id, message_id))
        seen = await _walk(core, thread_id, "desc", 100)
    finally:
        await core.close()
    assert [view.seq for view in seen if view.redacted] == [COUNT, COUNT - RECENT - 1, 2, 1]
    assert [view.content for view in seen[:2]] == [None, f"old {COUNT - 1}"]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_concurrent_redactions_of_one_message_append_one_event(
    tmp_path: Path, backend: str
) -> None:
    core = await _core(tmp_path, backend)
    try:
        thread = await core.bus.send(CreateThread(context=CONTEXT, auth=ADA))
        assert isinstance(thread, ThreadView)
        message = await core.bus.send(
            PostMessage(context=CONTEXT, auth=ADA, thread_id=thread.id, role="user", content="x")
        )
        assert isinstance(message, MessageView)
        # Batches in flight decide while earlier redactions are still being appended.
        await asyncio.gather(*(core.bus.send(_redact(thread.id, message.id)) for _ in range(8)))
        stored = await core.store.read_stream(thread_stream(CONTEXT, thread.id))
    finally:
        await core.close()
    types = [item.event.type for item in stored]
    assert types.count("chat.message.redacted") == 1


async def test_a_thread_whose_seqs_skip_still_pages_without_error(tmp_path: Path) -> None:
    """A log edited underneath (seqs that jump) reads back what it holds; it never fails."""
    core = await _core(tmp_path, "memory")
    thread_id = "th_gaps"
    stream = thread_stream(CONTEXT, thread_id)
    seqs = [*range(1, 601), *range(2000, 2301)]
    events = [_event(stream, 1, ThreadCreated(thread_id=thread_id, title=None))]
    for version, seq in enumerate(seqs, start=2):
        payload = MessagePosted(
            thread_id=thread_id, message_id=f"msg_{seq:x}-g", seq=seq, role="user", content="x"
        )
        events.append(_event(stream, version, payload))
    await core.store.append(stream, events, 0)
    try:
        for order in ("asc", "desc"):
            seen = await _walk(core, thread_id, order, 100)
            assert {view.seq for view in seen} <= set(seqs)
    finally:
        await core.close()
