"""The search side of the store skeleton: one way to answer a query, over a backend's postings.

Every backend keeps the same two tables: documents by key (their rank) and postings
(scope, term, key), a term being a word or a document's thread ("#" + its id). A query
is answered by walking the postings of its rarest term in key order (best match first),
a chunk at a time, and keeping the documents whose words hold every term (terms.matches,
the rule every backend shares); the walk stops once the page is full. The rarest term is
found by counting each term's postings up to COUNT_CAP, one short index range apiece
(terms past it are all common: any of them walks about as far).

The walk (walk()) is written once, as the reads it asks for, one step at a time: a
backend makes each read as it is asked (SearchReads.search, one await apiece), or makes
them all in a row on one thread (walk_now: a SQLite reader, one hand-off a search).
SQLite answers a query of whole words by the same rule in one statement instead (its
fast path, events.store.sqlite_search_walk, held to this walk by tests/search/test_walk).

SQLite's FTS5 is not used: its deletions leave the deleted words in older index segments
until a merge reaches them (FTS5's secure-delete option needs SQLite 3.42; this build is
older), and a redacted or erased word must leave the file when its event commits.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import attrs

from events.search.records import SearchDoc, SearchQuery, scope_id, thread_term
from events.search.terms import Term, matches

__all__ = [
    "COUNT_CAP",
    "CountStep",
    "DocsStep",
    "HoldingStep",
    "PostingsStep",
    "SearchReads",
    "SearchStatements",
    "Step",
    "Walk",
    "doc_row",
    "holds",
    "postings",
    "row_doc",
    "step_result",
    "step_sql",
    "upper_bound",
    "walk",
    "walk_now",
    "walked_terms",
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


@attrs.frozen
class CountStep:
    """Count a term's postings, up to COUNT_CAP."""

    scope: int
    term: Term


@attrs.frozen
class PostingsStep:
    """Read up to limit keys of a term's postings after a key, ascending."""

    scope: int
    term: Term
    after: int
    limit: int


@attrs.frozen
class HoldingStep:
    """Tell, in order, which of the keys a term's postings hold."""

    scope: int
    term: Term
    keys: tuple[int, ...]


@attrs.frozen
class DocsStep:
    """Read the documents of the keys, by key."""

    keys: tuple[int, ...]


Step = CountStep | PostingsStep | HoldingStep | DocsStep
# A search as the reads it asks for: each step is sent back what it read (step_result's
# value), and the walk returns the documents found.
Walk = Generator[Step, Any, list[SearchDoc]]


def walked_terms(query: SearchQuery) -> tuple[int, list[Term]]:
    """Return a query's scope and the terms its postings are walked by: its thread's too."""
    walked: list[Term] = list(query.terms)
    if query.thread_id is not None:
        walked.append(Term(thread_term(query.thread_id)))
    return scope_id(query.tenant, query.env), walked


def walk(query: SearchQuery) -> Walk:
    """Ask for the reads that answer a query; return up to limit documents after its key."""
    scope, walked = walked_terms(query)
    driver = walked[0]
    if len(walked) > 1:
        counts = []
        for term in walked:
            counts.append((yield CountStep(scope, term)))
        if min(counts) == 0:
            return []
        driver = walked[counts.index(min(counts))]
    others = [term for term in walked if term is not driver]
    found: list[SearchDoc] = []
    after = query.after
    # A lone term's every posting is a hit: the first step reads no more than the page.
    chunk = query.limit if not others else max(query.limit * 2, 32)
    while len(found) < query.limit:
        keys: list[int] = yield PostingsStep(scope, driver, after, chunk)
        if not keys:
            break
        # The other terms are checked on their postings, then only the keys that hold
        # them all are read, and checked again on their words.
        held = keys
        for term in others:
            held = yield HoldingStep(scope, term, tuple(held))
            if not held:
                break
        while held and len(found) < query.limit:
            wanted, held = held[: query.limit - len(found)], held[query.limit - len(found) :]
            docs: list[SearchDoc] = yield DocsStep(tuple(wanted))
            found += [doc for doc in docs if holds(doc, query)]
        if len(keys) < chunk:
            break
        after = keys[-1]
        chunk = CHUNK
    return found


def step_sql(statements: SearchStatements, step: Step) -> tuple[str, tuple[Any, ...]]:
    """Return a step's statement and its parameters, in the backend's placeholders."""
    if isinstance(step, DocsStep):
        return statements.docs, (statements.keys_param(step.keys),)
    term = step.term
    words: tuple[str, ...] = (term.word, upper_bound(term.word)) if term.prefix else (term.word,)
    if isinstance(step, CountStep):
        sql = statements.count_prefix if term.prefix else statements.count
        return sql, (step.scope, *words, COUNT_CAP)
    if isinstance(step, PostingsStep):
        sql = statements.postings_prefix if term.prefix else statements.postings
        return sql, (step.scope, *words, step.after, step.limit)
    sql = statements.holding_prefix if term.prefix else statements.holding
    return sql, (step.scope, *words, statements.keys_param(step.keys))


def step_result(step: Step, rows: Sequence[Sequence[Any]]) -> Any:
    """Return what a step's statement read, as the walk takes it."""
    if isinstance(step, CountStep):
        return int(rows[0][0])
    if isinstance(step, PostingsStep):
        return [int(row[0]) for row in rows]
    if isinstance(step, HoldingStep):
        present = {int(row[0]) for row in rows}
        return [key for key in step.keys if key in present]
    return sorted((row_doc(row) for row in rows), key=lambda doc: doc.key)


def walk_now(
    steps: Walk,
    statements: SearchStatements,
    rows_of: Callable[[str, tuple[Any, ...]], Sequence[Sequence[Any]]],
) -> list[SearchDoc]:
    """Run a walk's every read in this thread through rows_of; return what it found."""
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as done:
            result: list[SearchDoc] = done.value
            return result
        sql, params = step_sql(statements, step)
        reply = step_result(step, rows_of(sql, params))


class SearchReads:
    """Answer searches from a backend's postings and documents."""

    search_statements: SearchStatements

    async def search(self, query: SearchQuery) -> list[SearchDoc]:
        """Return up to limit documents after the key that hold every term, best first."""
        steps = walk(query)
        reply: Any = None
        while True:
            try:
                step = steps.send(reply)
            except StopIteration as done:
                result: list[SearchDoc] = done.value
                return result
            reply = await self._read(step)

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

    async def _read(self, step: Step) -> Any:
        """Make one read a walk asks for."""
        if isinstance(step, CountStep):
            return await self._count_postings(step.scope, step.term)
        if isinstance(step, PostingsStep):
            return await self._postings(step.scope, step.term, step.after, step.limit)
        if isinstance(step, HoldingStep):
            return await self._holding(step.scope, step.term, step.keys)
        return await self._index_docs(step.keys)

    async def _count_postings(self, scope: int, term: Term) -> int:
        return int(await self._step(CountStep(scope, term)))

    async def _postings(self, scope: int, term: Term, after: int, limit: int) -> list[int]:
        keys: list[int] = await self._step(PostingsStep(scope, term, after, limit))
        return keys

    async def _holding(self, scope: int, term: Term, keys: Sequence[int]) -> list[int]:
        """Return, in order, which of the keys the term's postings hold."""
        held: list[int] = await self._step(HoldingStep(scope, term, tuple(keys)))
        return held

    async def _index_docs(self, keys: Sequence[int]) -> list[SearchDoc]:
        if not keys:
            return []
        docs: list[SearchDoc] = await self._step(DocsStep(tuple(keys)))
        return docs

    async def _step(self, step: Step) -> Any:
        sql, params = step_sql(self.search_statements, step)
        return step_result(step, await self._fetch(sql, *params))

    # What a backend supplies (PagedReads declares them too).

    async def _fetch(self, sql: str, *params: Any) -> Sequence[Sequence[Any]]:
        raise NotImplementedError

    async def _fetchrow(self, sql: str, *params: Any) -> Any:
        raise NotImplementedError


def holds(doc: SearchDoc, query: SearchQuery) -> bool:
    """Tell whether a document is of the query's scope (and thread) and holds every term."""
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
