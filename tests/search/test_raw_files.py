"""The SQLite files themselves, index included, keep no word of a redacted or erased message.

Words are searched for as the index holds them (normalized: lower case, no accents) and as
written; each test first proves the word is in the files while the message stands.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.search.helpers import ADMIN, MEMBER, OTHER, Client, found, new_thread, post

WORDS = ("xylophonequartz", "zanzibarvortex")


def _files_of(url: str) -> list[Path]:
    path = Path(url.removeprefix("sqlite:///"))
    return [file for file in (path, Path(f"{path}-wal")) if file.exists()]


def _holding(url: str, word: str) -> list[str]:
    """Return the names of the database files that hold the word."""
    return [file.name for file in _files_of(url) if word.encode() in file.read_bytes()]


async def _until_clean(url: str) -> list[str]:
    """Return the files still holding a word, waiting a little for a scrub that was busy."""
    for _ in range(50):
        held = [name for word in WORDS for name in _holding(url, word)]
        if not held:
            return []
        await asyncio.sleep(0.05)
    return held


async def test_a_redaction_leaves_no_word_of_the_message_in_the_files(
    sqlite_client: Client, sqlite_url: str
) -> None:
    thread_id = await new_thread(sqlite_client)
    message = await post(sqlite_client, thread_id, f"Mind the {WORDS[0]} and {WORDS[1]}")
    await post(sqlite_client, thread_id, "a message that stays")
    assert _holding(sqlite_url, WORDS[0]), "the index holds the words while the message stands"
    response = await sqlite_client.delete(
        f"/chat/threads/{thread_id}/messages/{message['id']}", headers=MEMBER
    )
    assert response.status == 204
    assert await found(sqlite_client, WORDS[0]) == []
    assert await _until_clean(sqlite_url) == []
    assert await found(sqlite_client, "stays") == ["a message that stays"]


async def test_an_erasure_leaves_no_word_of_the_subject_in_the_files(
    sqlite_client: Client, sqlite_url: str
) -> None:
    thread_id = await new_thread(sqlite_client, headers=OTHER)
    for n in range(30):
        await post(sqlite_client, thread_id, f"note {n}: {WORDS[0]} {WORDS[1]}")
        await post(sqlite_client, thread_id, f"reply {n} from someone else", headers=OTHER)
    assert _holding(sqlite_url, WORDS[1]), "the index holds the words before the erasure"
    response = await sqlite_client.post(
        "/admin/erasures", json={"subject": "u_member"}, headers=ADMIN
    )
    assert response.status == 202
    assert await found(sqlite_client, WORDS[1]) == []
    assert await _until_clean(sqlite_url) == []
    assert len(await found(sqlite_client, "someone")) == 30


def _index_roots(url: str) -> list[int]:
    """Return the root pages of the index's tables: compacting makes both anew."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        rows = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name IN ('search_docs', 'search_postings')"
            " ORDER BY name"
        ).fetchall()
    return [row[0] for row in rows]


async def test_only_a_commit_that_deleted_index_rows_copies_the_index_afresh(
    sqlite_client: Client, sqlite_url: str
) -> None:
    thread_id = await new_thread(sqlite_client)
    wordless = await post(sqlite_client, thread_id, "?! ...")
    worded = await post(sqlite_client, thread_id, f"Mind the {WORDS[0]}")
    roots = _index_roots(sqlite_url)
    # A message that holds no word was never indexed: its redaction deletes no row.
    response = await sqlite_client.delete(
        f"/chat/threads/{thread_id}/messages/{wordless['id']}", headers=MEMBER
    )
    assert response.status == 204
    assert _index_roots(sqlite_url) == roots
    response = await sqlite_client.delete(
        f"/chat/threads/{thread_id}/messages/{worded['id']}", headers=MEMBER
    )
    assert response.status == 204
    assert _index_roots(sqlite_url) != roots
    assert await _until_clean(sqlite_url) == []
