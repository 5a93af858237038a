"""The thread cache is bounded by the bytes it holds, not only by how many messages it keeps.

A member posting many large messages across threads must not grow it past
CHAT_CORE_CACHE_BYTES; a thread it had to make room in is never folded again from the
start of its stream to take a post (that would be thrashing), and every read after it
let messages go shows exactly what was posted.
"""

from __future__ import annotations

import enum
import gc
import sys
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat_core.bootstrap import ChatCore, bootstrap
from chat_core.commands import CreateThread, PostMessage, RedactMessage
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.fold import apply_event, message_state
from chat_core.payloads import MessagePosted
from chat_core.settings import Settings, SettingsError, load_settings
from chat_core.state import FIRST, RECENT, ThreadState
from chat_core.views import MessageView, ThreadView
from events.envelope import DatasetEvent, Env
from events.keys import KeyRing

CONTEXT = RequestContext(tenant="t_acme", env=Env.DEV, request_id="r-1")
ADA = AuthContext(sub="u_ada", memberships={"t_acme": frozenset({Role.MEMBER})})
BUDGET = 4 << 20
THREADS = 6
ROUNDS = 50
WORDS = 32_000


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[ChatCore]:
    settings = Settings(
        hs256_secret=b"x" * 32, store_url=f"sqlite:///{tmp_path}/chat.db", cache_bytes=BUDGET
    )
    core = await bootstrap(settings=settings)
    yield core
    await core.close()


def _held(states: Iterable[ThreadState]) -> int:
    """Return the bytes of every object the states reach, each counted once.

    Measured by walking the objects themselves, not by the cache's own accounting: what a
    cached thread keeps alive (messages, their words, their rendered views) is what counts.
    The key ring a state opens messages with belongs to the core, not to the cache.
    """
    seen: set[int] = set()
    stack: list[object] = list(states)
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(
            item, type | ModuleType | FunctionType | KeyRing | enum.Enum
        ):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        stack.extend(gc.get_referents(item))
    return total


def _words(thread: int, seq: int) -> str:
    prefix = f"thread {thread} message {seq} "
    return prefix + "w" * (WORDS - len(prefix))


async def _open(core: ChatCore) -> str:
    view = await core.bus.send(CreateThread(context=CONTEXT, auth=ADA, title="big"))
    assert isinstance(view, ThreadView)
    return view.id


async def _post(core: ChatCore, thread_id: str, content: str) -> MessageView:
    answer = await core.bus.send(
        PostMessage(context=CONTEXT, auth=ADA, thread_id=thread_id, role="user", content=content)
    )
    assert isinstance(answer, MessageView)
    return answer


async def _all_messages(core: ChatCore, thread_id: str, order: str) -> list[MessageView]:
    found: list[MessageView] = []
    after = None
    while True:
        page = await core.queries.list_messages(
            CONTEXT, ADA, thread_id, limit=100, after=after, order=order
        )
        found.extend(item for item in page.data if isinstance(item, MessageView))
        if page.next is None:
            return found
        after = page.next


async def _newest(core: ChatCore, thread_id: str) -> list[MessageView]:
    page = await core.queries.list_messages(
        CONTEXT, ADA, thread_id, limit=20, after=None, order="desc"
    )
    return [item for item in page.data if isinstance(item, MessageView)]


async def test_large_messages_across_threads_keep_the_cache_within_its_bytes(
    core: ChatCore,
) -> None:
    thread_ids = [await _open(core) for _ in range(THREADS)]
    for seq in range(1, ROUNDS + 1):
        for number, thread_id in enumerate(thread_ids):
            await _post(core, thread_id, _words(number, seq))
            assert core.threads.bytes <= BUDGET
        # Reads render views, which the messages keep: they count too.
        for thread_id in thread_ids[: seq % THREADS + 1]:
            await _newest(core, thread_id)
        assert core.threads.bytes <= BUDGET
    assert THREADS * ROUNDS * WORDS > 2 * BUDGET  # far more words than the cache may hold
    assert _held(core.threads.states()) <= BUDGET


async def test_a_post_never_folds_its_thread_again_after_the_cache_made_room(
    core: ChatCore,
) -> None:
    thread_ids = [await _open(core) for _ in range(THREADS)]
    states: dict[str, ThreadState] = {}
    for seq in range(1, ROUNDS + 1):
        for number, thread_id in enumerate(thread_ids):
            await _post(core, thread_id, _words(number, seq))
            state = next(s for s in core.threads.states() if s.thread_id == thread_id)
            # The same state object, moved on by each post: never dropped and refolded.
            assert states.setdefault(thread_id, state) is state
    assert {state.last_seq for state in states.values()} == {ROUNDS}


async def test_reads_after_the_cache_let_messages_go_show_what_was_posted(
    core: ChatCore,
) -> None:
    thread_ids = [await _open(core) for _ in range(THREADS)]
    for seq in range(1, ROUNDS + 1):
        for number, thread_id in enumerate(thread_ids):
            await _post(core, thread_id, _words(number, seq))
    first = thread_ids[0]
    redacted = (await _all_messages(core, first, "asc"))[6]
    await core.bus.send(
        RedactMessage(context=CONTEXT, auth=ADA, thread_id=first, message_id=redacted.id)
    )
    for number, thread_id in enumerate(thread_ids):
        expected = [
            None if (thread_id, seq) == (first, redacted.seq) else _words(number, seq)
            for seq in range(1, ROUNDS + 1)
        ]
        ascending = await _all_messages(core, thread_id, "asc")
        assert [m.seq for m in ascending] == list(range(1, ROUNDS + 1))
        assert [m.content for m in ascending] == expected
        descending = await _all_messages(core, thread_id, "desc")
        assert [m.content for m in descending] == expected[::-1]
        assert [m.redacted for m in descending].count(True) == (thread_id == first)
        view = await core.queries.get_thread(CONTEXT, ADA, thread_id)
        assert (view.message_count, view.last_seq, view.title) == (ROUNDS, ROUNDS, "big")
    assert core.threads.bytes <= BUDGET


async def test_a_thread_read_after_it_let_its_messages_go_keeps_them_again(
    core: ChatCore,
) -> None:
    thread_ids = [await _open(core) for _ in range(THREADS)]
    for seq in range(1, ROUNDS + 1):
        for number, thread_id in enumerate(thread_ids):
            await _post(core, thread_id, _words(number, seq))
    oldest = thread_ids[0]  # the least recently used: the first to let its messages go
    state = next(s for s in core.threads.states() if s.thread_id == oldest)
    assert not state.holds(ROUNDS - 19, ROUNDS)
    page = await core.queries.list_messages(
        CONTEXT, ADA, oldest, limit=20, after=None, order="desc"
    )
    assert [m.content for m in page.data if isinstance(m, MessageView)] == [
        _words(0, seq) for seq in range(ROUNDS, ROUNDS - 20, -1)
    ]
    assert state.holds(ROUNDS - 19, ROUNDS)  # read back once, then kept
    again = await core.queries.list_messages(
        CONTEXT, ADA, oldest, limit=20, after=None, order="desc"
    )
    assert again is page  # served from memory, nothing read back
    assert core.threads.bytes <= BUDGET


def test_the_byte_budget_is_a_setting_a_flag_and_256_mib_by_default() -> None:
    assert load_settings({}).cache_bytes == 256 << 20
    assert load_settings({"CHAT_CORE_CACHE_BYTES": "67108864"}).cache_bytes == 64 << 20
    flagged = load_settings({"CHAT_CORE_CACHE_BYTES": "67108864"}, {"cache_bytes": "33554432"})
    assert flagged.cache_bytes == 32 << 20
    assert load_settings({"CHAT_CORE_CACHE_MESSAGES": "1000"}).cache_messages == 1000
    for bad in ("lots", "0", "1024"):
        with pytest.raises(SettingsError, match="CHAT_CORE_CACHE_BYTES"):
            load_settings({"CHAT_CORE_CACHE_BYTES": bad})


def _posted(seq: int) -> DatasetEvent:
    payload = MessagePosted(
        thread_id="th_x", message_id=f"msg_{seq:x}-t", seq=seq, role="user", content=f"m{seq}"
    )
    return DatasetEvent(
        event_id=uuid.uuid4(),
        stream="chat/t_acme/dev/th_x",
        version=seq + 1,
        tenant="t_acme",
        env=Env.DEV,
        request_id=f"r-{seq}",
        trace_id=f"r-{seq}",
        actor="u_ada",
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
        payload=payload,
    )


def _payload(event: DatasetEvent) -> MessagePosted:
    assert isinstance(event.payload, MessagePosted)
    return event.payload


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("post"), st.integers(1, 300)),
            st.tuples(st.just("let go"), st.just(0)),
            st.tuples(
                st.just("read back"),
                st.sampled_from(["after the first", "before the newest", "anywhere"]),
                st.integers(0, 700),
                st.integers(0, 120),
            ),
        ),
        max_size=12,
    )
)
def test_letting_go_and_taking_back_keep_the_kept_messages_in_order(
    steps: list[tuple[Any, ...]],
) -> None:
    state = ThreadState()
    for step in steps:
        if step[0] == "post":
            for _ in range(step[1]):
                apply_event(state, _posted(state.message_count + 1))
        elif step[0] == "let go":
            state.let_go()
        else:
            _, anchor, offset, length = step
            if anchor == "after the first":
                low = len(state.first) + 1 - offset % 3
            elif anchor == "before the newest":
                low = state.first_recent_seq - length - offset % 3
            else:
                low = 1 + offset % (state.message_count + 1)
            low = max(1, low)
            high = min(low + length, state.message_count)
            events = [_posted(seq) for seq in range(low, high + 1)]
            found = [message_state(_payload(e), e, None) for e in events]
            state.take_back(found)
        # The first run on from seq 1, the recent reach the newest, none is kept twice,
        # and what the cache counts is what is kept.
        assert [m.seq for m in state.first] == list(range(1, len(state.first) + 1))
        recent = [m.seq for m in state.recent]
        assert recent == list(range(state.message_count - len(recent) + 1, state.message_count + 1))
        assert len(state.first) <= FIRST and len(state.recent) <= RECENT
        kept = list(state.kept())
        assert len({m.seq for m in kept}) == len(kept)
        assert state.kept_bytes == sum(m.size for m in kept)


def _block_holding(produce: Any) -> tuple[bytes, int]:
    """Return what produce() returns and the size of the smallest traced block that holds it."""
    tracemalloc.start()
    try:
        made = produce()
        traces = tracemalloc.take_snapshot().traces
    finally:
        tracemalloc.stop()
    return made, min(trace.size for trace in traces if trace.size >= len(made))


@pytest.mark.parametrize("chars", [20, 32_000])
def test_a_kept_view_holds_its_bytes_in_an_allocation_of_their_own_length(chars: int) -> None:
    # orjson.dumps' own answer sits in a block of 4 KiB at the least, some 8x for long text.
    state = message_state(_payload(_posted(1)), _posted(1), None)
    state.content = "y" * chars
    view = state.view("th_x")
    encoded, block = _block_holding(view.json_bytes)
    assert len(encoded) > chars and block <= len(encoded) + 64
    raw, raw_block = _block_holding(lambda: orjson.dumps(view.to_json()))
    assert raw == encoded and raw_block > 2 * block  # what kept_json saves
