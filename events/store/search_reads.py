"""The search side of the store skeleton: one way to answer a query, over a backend's postings.

Every backend keeps the same two tables: documents by key (their rank) and postings
(scope, term, key), a term being a word or a document's thread ("#" + its id). A query
is answered by walking the postings of its rarest term in key order (best match first),
a chunk at a time, and keeping the documents whose words hold every term (terms.matches,
the rule every backend shares); the walk stops once the page is full. The rarest term is
found by counting each term's postings up to COUNT_CAP, one short index range apiece
(terms past it are all common: any of them walks about as far).

SQLite's FTS5 is not used: its deletions leave the deleted words in older index segments
until a merge reaches them (FTS5's secure-delete option needs SQLite 3.42; this build is
older), and a redacted or erased word must leave the file when its event commits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from events.search.records import SearchDoc, SearchQuery, scope_id, thread_term
from events.search.terms import Term, matches

__all__ = [
    "COUNT_CAP",
    "SearchReads",
    "SearchStatements",
    "doc_row",
    "postings",
    "row_doc",
    "upper_bound",
]

COUNT_CAP = 200
# Postings read per step of the walk.
CHUNK = 256
# No indexed word holds U+10FFFF (not a letter or digit): the end of a prefix's range.
_TOP = "\U0010ffff"

DOC_COLUMNS = "key, tenant, env, thread_id, message_id, author, key_id, private, words, terms"


@attrs.frozen(kw_only=True)
class SearchStatements:
    """A backend's SQL for the index reads, in its own placeholders.

    The parameters: count (scope, term, cap), count_prefix (scope, low, high, cap),
    postings (scope, term, after, limit), postings_prefix (scope, low, high, after,
    limit), docs (keys_param(keys)), holding (scope, term, keys_param(keys)) and
    holding_prefix (scope, low, high, keys_param(keys)): which of the keys a term's
    postings hold.
    """

    count: str
    count_prefix: str
    postings: str
    postings_prefix: str
    docs: str
    holding: str
    holding_prefix: str
    keys_param: Callable[[Sequence[int]], Any]


def upper_bound(prefix: str) -> str:
    """Return the first string past every word that begins with prefix."""
    return prefix + _TOP


def doc_row(doc: SearchDoc, key: int | None = None) -> tuple[Any, ...]:
    """Return a document as a row of DOC_COLUMNS, under key when one is given."""
    return (
        doc.key if key is None else key,
        doc.tenant,
        doc.env,
        doc.thread_id,
        doc.message_id,
        doc.author,
        doc.key_id,
        doc.private,
        doc.words,
        " ".join(doc.terms),
    )


def postings(doc: SearchDoc, key: int | None = None) -> list[tuple[int, str, int]]:
    """Return a document's posting rows (scope, term, key): one per word, one for its thread."""
    scope = scope_id(doc.tenant, doc.env)
    key = doc.key if key is None else key
    rows = [(scope, term, key) for term in doc.terms]
    rows.append((scope, thread_term(doc.thread_id), key))
    return rows


def row_doc(row: Sequence[Any]) -> SearchDoc:
    """Return the document a row of DOC_COLUMNS holds."""
    key, tenant, env, thread_id, message_id, author, key_id, private, words, terms = row
    return SearchDoc(
        key=int(key),
        tenant=tenant,
        env=env,
        thread_id=thread_id,
        message_id=message_id,
        author=author,
        key_id=key_id,
        private=bool(private),
        words=int(words),
        terms=tuple(terms.split(" ")) if terms else (),
    )


class SearchReads:
    """Answer searches from a backend's postings and documents."""

    search_statements: SearchStatements

    async def search(self, query: SearchQuery) -> list[SearchDoc]:
        """Return up to limit documents after the key that hold every term, best first."""
        scope = scope_id(query.tenant, query.env)
        walked: list[Term] = list(query.terms)
        if query.thread_id is not None:
            walked.append(Term(thread_term(query.thread_id)))
        driver = walked[0]
        if len(walked) > 1:
            counts = [await self._count_postings(scope, term) for term in walked]
            if min(counts) == 0:
                return []
            driver = walked[counts.index(min(counts))]
        others = [term for term in walked if term is not driver]
        found: list[SearchDoc] = []
        after = query.after
        # A lone term's every posting is a hit: the first step reads no more than the page.
        chunk = query.limit if not others else max(query.limit * 2, 32)
        while len(found) < query.limit:
            keys = await self._postings(scope, driver, after, chunk)
            if not keys:
                break
            # The other terms are checked on their postings, then only the keys that hold
            # them all are read, and checked again on their words.
            held = keys
            for term in others:
                held = await self._holding(scope, term, held)
                if not held:
                    break
            while held and len(found) < query.limit:
                wanted, held = held[: query.limit - len(found)], held[query.limit - len(found) :]
                found += [doc for doc in await self._index_docs(wanted) if _holds(doc, query)]
            if len(keys) < chunk:
                break
            after = keys[-1]
            chunk = CHUNK
        return found

    async def thread_index(self, tenant: str, env: str, thread_id: str) -> list[SearchDoc]:
        """Return every indexed document of a thread, by key; a posting without one is key 0."""
        scope = scope_id(tenant, env)
        term = Term(thread_term(thread_id))
        docs: list[SearchDoc] = []
        after = 0
        while True:
            keys = await self._postings(scope, term, after, CHUNK)
            found = {doc.key: doc for doc in await self._index_docs(keys)}
            for key in keys:
                docs.append(found.get(key) or _orphan(tenant, env, thread_id))
            if len(keys) < CHUNK:
                return docs
            after = keys[-1]

    async def missing_postings(self, doc: SearchDoc) -> list[str]:
        """Return the terms of a document (its thread's included) that have no posting."""
        scope = scope_id(doc.tenant, doc.env)
        missing = []
        for word in (*doc.terms, thread_term(doc.thread_id)):
            keys = await self._postings(scope, Term(word), doc.key - 1, 1)
            if keys != [doc.key]:
                missing.append(word)
        return missing

    async def _count_postings(self, scope: int, term: Term) -> int:
        statements = self.search_statements
        params: tuple[str, ...]
        if term.prefix:
            sql, params = statements.count_prefix, (term.word, upper_bound(term.word))
        else:
            sql, params = statements.count, (term.word,)
        row = await self._fetchrow(sql, scope, *params, COUNT_CAP)
        return int(row[0])

    async def _postings(self, scope: int, term: Term, after: int, limit: int) -> list[int]:
        statements = self.search_statements
        params: tuple[str, ...]
        if term.prefix:
            sql, params = statements.postings_prefix, (term.word, upper_bound(term.word))
        else:
            sql, params = statements.postings, (term.word,)
        rows = await self._fetch(sql, scope, *params, after, limit)
        return [int(row[0]) for row in rows]

    async def _holding(self, scope: int, term: Term, keys: Sequence[int]) -> list[int]:
        """Return, in order, which of the keys the term's postings hold."""
        statements = self.search_statements
        params: tuple[str, ...]
        if term.prefix:
            sql, params = statements.holding_prefix, (term.word, upper_bound(term.word))
        else:
            sql, params = statements.holding, (term.word,)
        rows = await self._fetch(sql, scope, *params, statements.keys_param(keys))
        present = {int(row[0]) for row in rows}
        return [key for key in keys if key in present]

    async def _index_docs(self, keys: Sequence[int]) -> list[SearchDoc]:
        if not keys:
            return []
        statements = self.search_statements
        rows = await self._fetch(statements.docs, statements.keys_param(keys))
        return sorted((row_doc(row) for row in rows), key=lambda doc: doc.key)

    # What a backend supplies (PagedReads declares them too).

    async def _fetch(self, sql: str, *params: Any) -> Sequence[Sequence[Any]]:
        raise NotImplementedError

    async def _fetchrow(self, sql: str, *params: Any) -> Any:
        raise NotImplementedError


def _holds(doc: SearchDoc, query: SearchQuery) -> bool:
    if doc.tenant != query.tenant or doc.env != query.env:
        return False
    if query.thread_id is not None and doc.thread_id != query.thread_id:
        return False
    return matches(query.terms, doc.terms)


def _orphan(tenant: str, env: str, thread_id: str) -> SearchDoc:
    return SearchDoc(
        tenant=tenant,
        env=env,
        thread_id=thread_id,
        message_id="",
        author="",
        key_id=None,
        private=False,
        words=0,
        terms=(),
    )
