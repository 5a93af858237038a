"""SQLite's search answers in one hand-off, a query of whole words in one statement, and finds
what the walk read step by step finds: the same documents, in the same order, for every
query, thread, cursor and page size."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from events.search.records import SearchDoc, SearchQuery
from events.search.terms import parse_query
from events.store.search_reads import SearchReads
from events.store.sqlite import SQLiteEventStore
from events.store.sqlite_schema import connect
from events.store.sqlite_search_walk import search_now
from tests.http.conftest import ClientFactory
from tests.search.helpers import new_thread
from tests.search.test_parity import QUERIES, _write
from transports.http.app_keys import CORE


async def _pages(store: SearchReads, query: SearchQuery, *, stepwise: bool) -> list[SearchDoc]:
    """Return every document of a query, a page at a time from its first key."""
    found: list[SearchDoc] = []
    after = 0
    while True:
        asked = SearchQuery(
            tenant=query.tenant,
            env=query.env,
            terms=query.terms,
            thread_id=query.thread_id,
            after=after,
            limit=query.limit,
        )
        page = await (SearchReads.search(store, asked) if stepwise else store.search(asked))
        found += page
        if len(page) < query.limit:
            return found
        after = page[-1].key


def test_sqlite_makes_a_walks_reads_in_one_hand_off() -> None:
    assert SQLiteEventStore.search is not SearchReads.search


async def test_sqlite_finds_what_the_walk_step_by_step_finds(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    client = await make_client(store_url=f"sqlite:///{tmp_path / 'chat.db'}")
    await _write(client, random.Random(26))
    thread_id = await new_thread(client)
    store = client.app[CORE].store
    assert isinstance(store, SQLiteEventStore)
    threads: list[str | None] = [None, thread_id, *await _threads_of(store)]
    total = 0
    extra = ("cafe alp*", "bet* x1* fish", "cafe fish", "alpha beta gamma", "x1 x10", "resume cafe")
    for q in (*QUERIES, *extra, "nowhere", "alpha nowhere", "fish fish"):
        for thread in threads:
            for limit in (1, 3, 20):
                query = SearchQuery(
                    tenant="t_acme",
                    env="dev",
                    terms=parse_query(q),
                    thread_id=thread,
                    limit=limit,
                )
                fast = await _pages(store, query, stepwise=False)
                assert fast == await _pages(store, query, stepwise=True), (q, thread, limit)
                total += len(fast)
    assert total > 300


async def test_a_query_of_whole_words_is_counted_then_walked_in_one_statement(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    client = await make_client(store_url=f"sqlite:///{tmp_path / 'chat.db'}")
    await _write(client, random.Random(26))
    conn = connect(str(tmp_path / "chat.db"), readonly=True)
    statements: list[str] = []

    def rows_of(sql: str, params: tuple[Any, ...]) -> list[Any]:
        statements.append(sql)
        return conn.execute(sql, params).fetchall()

    query = SearchQuery(tenant="t_acme", env="dev", terms=parse_query("alpha beta"), limit=2)
    docs = search_now(query, rows_of)
    conn.close()
    assert len(docs) == 2
    assert [sql.split()[1] for sql in statements] == ["count(*)", "count(*)", "d.key,"]


async def _threads_of(store: SQLiteEventStore) -> list[str]:
    """Return the id of every thread the index holds a document of the queries in."""
    seen: dict[str, None] = {}
    for q in QUERIES:
        query = SearchQuery(tenant="t_acme", env="dev", terms=parse_query(q), limit=1000)
        seen.update((doc.thread_id, None) for doc in await store.search(query))
    return list(seen)


async def test_a_bounded_walk_is_read_on_the_loop_and_a_prefix_walk_on_a_reader(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    client = await make_client(store_url=f"sqlite:///{tmp_path / 'chat.db'}")
    await _write(client, random.Random(26))
    store = client.app[CORE].store
    assert isinstance(store, SQLiteEventStore)
    prefix = SearchQuery(tenant="t_acme", env="dev", terms=parse_query("alp* beta"), limit=5)
    assert await store.search(prefix)
    assert store._loop_conn is None
    words = SearchQuery(tenant="t_acme", env="dev", terms=parse_query("alpha beta"), limit=5)
    assert await store.search(words) == await SearchReads.search(store, words)
    assert store._loop_conn is not None
