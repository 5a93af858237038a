"""What telling and writing an append's index changes costs the rest of the append: nothing
it would not do without the index, and the same rows whichever way they are written."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from chat_core.fold import message_words
from chat_core.payloads import MessagePosted
from chat_core.search_index import SearchIndexer
from events.envelope import DatasetEvent, Env
from events.search.records import MAX_POSITION, MAX_RANKED_WORDS, IndexPut, SearchDoc, rank_key
from events.store.search_reads import DOC_COLUMNS, doc_row, postings
from events.store.sqlite_schema import connect, migrate
from events.store.sqlite_search import apply_changes
from tests.erasure.seals import AUTHOR, TENANT, ring, seal_one


def _posted(sealed: str, message_id: str = "msg_1") -> DatasetEvent:
    return DatasetEvent(
        event_id=uuid.uuid4(),
        stream=f"chat/{TENANT}/dev/th_1",
        version=2,
        tenant=TENANT,
        env=Env.DEV,
        request_id="r-1",
        trace_id="r-1",
        actor=AUTHOR,
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
        payload=MessagePosted(
            thread_id="th_1", message_id=message_id, seq=1, role="user", sealed=sealed
        ),
    )


async def test_the_index_reads_a_fresh_post_and_leaves_it_for_the_fold_to_open_from_memory() -> (
    None
):
    keys = ring()
    sealed = await seal_one(keys, content="Mind the gap")
    event = _posted(sealed)
    changes = SearchIndexer(keys)(None, [], [event])
    assert [change.doc.terms for change in changes if isinstance(change, IndexPut)] == [
        ("mind", "the", "gap")
    ]
    # The fold opens it next, once the append commits: from memory, as without the index.
    assert sealed in keys._recent
    assert isinstance(event.payload, MessagePosted)
    assert message_words(event.payload, event, keys, AUTHOR)[0] == "Mind the gap"
    assert sealed not in keys._recent


async def test_a_fresh_post_the_index_read_still_opens_as_erased_once_its_author_is() -> None:
    keys = ring()
    sealed = await seal_one(keys, content="Mind the gap")
    event = _posted(sealed)
    SearchIndexer(keys)(None, [], [event])
    await keys.destroy(TENANT, AUTHOR)
    assert isinstance(event.payload, MessagePosted)
    assert message_words(event.payload, event, keys, AUTHOR) == (None, {}, True)


def _doc(tenant: str, message_id: str, terms: tuple[str, ...]) -> SearchDoc:
    return SearchDoc(
        tenant=tenant,
        env="dev",
        thread_id=f"th_{tenant}",
        message_id=message_id,
        author=AUTHOR,
        key_id=3,
        private=tenant == "t_globex",
        words=len(terms) + 1,
        terms=terms,
    )


def test_sqlite_writes_every_posting_a_document_has_a_scope_at_once(tmp_path: Path) -> None:
    docs = [
        (_doc("t_acme", "msg_1", ("café", "東京", "x1")), rank_key(4, 7)),
        (_doc("t_globex", "msg_2", ("γάμμα", "x1")), rank_key(3, 8)),
        (_doc("t_acme", "msg_3", ("x1",)), rank_key(MAX_RANKED_WORDS, MAX_POSITION)),
    ]
    conn = connect(str(tmp_path / "index.db"))
    migrate(conn)
    conn.execute("BEGIN IMMEDIATE")
    apply_changes(conn, [(IndexPut(offset=0, doc=doc), key) for doc, key in docs])
    conn.execute("COMMIT")
    written = conn.execute("SELECT scope, term, key FROM search_postings").fetchall()
    assert sorted(written) == sorted(row for doc, key in docs for row in postings(doc, key))
    rows = conn.execute(f"SELECT {DOC_COLUMNS} FROM search_docs ORDER BY key").fetchall()
    assert rows == sorted(doc_row(doc, key) for doc, key in docs)
