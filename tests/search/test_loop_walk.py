"""A walk on SQLite that the event loop's first LOOP_POSTINGS postings leave short of a page goes
on from there on a reader: the same documents as the walk step by step, every page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from chat_core.payloads import MessagePosted, ThreadCreated
from chat_core.search_index import document
from chat_core.state import new_message_id, new_thread_id
from events.codec import EventCodec
from events.envelope import DatasetEvent, Env
from events.search.records import IndexPut, SearchDoc, SearchQuery
from events.search.terms import parse_query
from events.store.search_reads import SearchReads
from events.store.sqlite import SQLiteEventStore
from events.store.sqlite_search_walk import LOOP_POSTINGS


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


async def _log(store: SQLiteEventStore, texts: list[str]) -> None:
    """Append one thread of these messages, indexed as the pipeline indexes them."""
    thread_id = new_thread_id()
    stream = f"chat/t_acme/dev/{thread_id}"
    events = [_event(stream, 1, ThreadCreated(thread_id=thread_id))]
    index = []
    for seq, text in enumerate(texts, start=1):
        payload = MessagePosted(
            thread_id=thread_id, message_id=new_message_id(seq), seq=seq, role="user", content=text
        )
        events.append(_event(stream, seq + 1, payload))
        doc = document(
            events[-1],
            thread_id=thread_id,
            message_id=payload.message_id,
            author="u_ada",
            key_id=None,
            private=False,
            text=text,
        )
        assert doc is not None
        index.append(IndexPut(offset=seq, doc=doc))
    await store.append(stream, events, 0, index=index)


async def _every(store: SQLiteEventStore, q: str, limit: int, *, stepwise: bool) -> list[SearchDoc]:
    found: list[SearchDoc] = []
    after = 0
    while True:
        query = SearchQuery(
            tenant="t_acme", env="dev", terms=parse_query(q), after=after, limit=limit
        )
        page = await (SearchReads.search(store, query) if stepwise else store.search(query))
        found += page
        if len(page) < limit:
            return found
        after = page[-1].key


async def test_a_walk_past_the_loops_postings_goes_on_on_a_reader(tmp_path: Path) -> None:
    store = await SQLiteEventStore.open(str(tmp_path / "chat.db"), codec=EventCodec())
    count = LOOP_POSTINGS * 3
    # Both words are in most messages, together only in every 97th: a first page of
    # them needs more of the driver's postings than the loop reads.
    texts = [
        "alpha beta" if n % 97 == 0 else ("alpha gamma" if n % 2 else "beta gamma")
        for n in range(count)
    ]
    await _log(store, texts)
    try:
        for q in ("alpha beta", "alpha gamma", "gamma", "beta gamma alpha"):
            for limit in (1, 5, 20):
                fast = await _every(store, q, limit, stepwise=False)
                assert fast == await _every(store, q, limit, stepwise=True), (q, limit)
        found = await store.search(
            SearchQuery(tenant="t_acme", env="dev", terms=parse_query("alpha beta"), limit=20)
        )
        assert len(found) == len(range(0, count, 97))
    finally:
        await store.close()
