"""What an index holds and the changes an append makes to it.

An indexed document is one message's words with what a search filters on (tenant, env,
thread, whether the thread is private) and what an erasure deletes by (author, key id).
Its key is its rank: hits come in ascending key, so the key orders best match first and
a page's cursor is the last key shown. "Best" is the share of the message the query's
words make: the fewest words first, then the newest (the position of the event that made
it complete). A fixed order every backend keeps in its primary key, so a first page is
read off an index without scoring every hit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

from attrs import field, frozen

from events.search.terms import Term

__all__ = [
    "MAX_POSITION",
    "MAX_RANKED_WORDS",
    "IndexChange",
    "IndexDrop",
    "IndexErase",
    "IndexPut",
    "SearchDoc",
    "SearchQuery",
    "rank_key",
    "scope_id",
    "thread_term",
]

# Positions below 2^40, word counts below 2^13: every key stays below 2^53 (a cursor).
POSITION_BITS = 40
MAX_POSITION = (1 << POSITION_BITS) - 1
MAX_RANKED_WORDS = (1 << 13) - 1


def _terms(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(values)


@frozen(kw_only=True)
class SearchDoc:
    """One message's entry in the index; key 0 until the store ranks it."""

    tenant: str
    env: str
    thread_id: str
    message_id: str
    author: str
    key_id: int | None
    private: bool
    words: int
    terms: tuple[str, ...] = field(converter=_terms)
    key: int = 0


@frozen(kw_only=True)
class IndexPut:
    """Index a document, ranked by the position of the append's event at offset.

    key is 0 until the store ranks the change inside its transaction (the document's own
    key is what a search reads back).
    """

    offset: int
    doc: SearchDoc
    key: int = 0


@frozen(kw_only=True)
class IndexDrop:
    """Delete a message's entry (a redaction)."""

    tenant: str
    env: str
    thread_id: str
    message_id: str


@frozen(kw_only=True)
class IndexErase:
    """Delete an author's entries in a tenant sealed under keys up to through_key_id."""

    tenant: str
    author: str
    through_key_id: int


IndexChange = IndexPut | IndexDrop | IndexErase


@frozen(kw_only=True)
class SearchQuery:
    """A search within one tenant and env (and a thread), after a key, for up to limit hits."""

    tenant: str
    env: str
    terms: tuple[Term, ...]
    thread_id: str | None = None
    after: int = 0
    limit: int = 20


def rank_key(words: int, position: int) -> int:
    """Return a document's key: fewer words first, then newer first."""
    if not 0 < position <= MAX_POSITION:
        raise ValueError(f"position {position} is outside what a rank key holds")
    return (min(max(words, 1), MAX_RANKED_WORDS) << POSITION_BITS) | (MAX_POSITION - position)


@lru_cache(maxsize=4096)
def scope_id(tenant: str, env: str) -> int:
    """Return the signed 64-bit number that partitions postings by tenant and env.

    Remembered: every indexed message and every search asks it, of a few tenants.
    """
    digest = hashlib.blake2b(f"{tenant}\x1f{env}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def thread_term(thread_id: str) -> str:
    """Return the posting a document has for its thread: no word begins with '#'."""
    return "#" + thread_id
