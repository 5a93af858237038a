"""The search index of the memory store: the same documents and postings, in dicts."""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable, Sequence

import attrs

from events.search.records import (
    IndexChange,
    IndexDrop,
    IndexErase,
    SearchDoc,
    scope_id,
    thread_term,
)
from events.search.terms import Term

__all__ = ["MemoryIndex"]


class MemoryIndex:
    """Documents by key and, per scope and term, the sorted keys of its postings."""

    def __init__(self) -> None:
        self.docs: dict[int, SearchDoc] = {}
        self._postings: dict[int, dict[str, list[int]]] = {}

    def apply(self, changes: Iterable[IndexChange]) -> None:
        """Make the changes, in order."""
        for change in changes:
            if isinstance(change, IndexDrop):
                self._delete(
                    doc
                    for doc in self.docs.values()
                    if (doc.tenant, doc.env, doc.message_id)
                    == (change.tenant, change.env, change.message_id)
                )
            elif isinstance(change, IndexErase):
                self._delete(
                    doc
                    for doc in self.docs.values()
                    if doc.tenant == change.tenant
                    and doc.author == change.author
                    and (doc.key_id is None or doc.key_id <= change.through_key_id)
                )
            else:
                self.put(attrs.evolve(change.doc, key=change.key))

    def put(self, doc: SearchDoc) -> None:
        """Index a ranked document."""
        self.docs[doc.key] = doc
        terms = self._postings.setdefault(scope_id(doc.tenant, doc.env), {})
        for term in (*doc.terms, thread_term(doc.thread_id)):
            insort(terms.setdefault(term, []), doc.key)

    def clear(self) -> None:
        """Forget every document and posting."""
        self.docs.clear()
        self._postings.clear()

    def count(self, scope: int, term: Term, cap: int) -> int:
        """Count a term's postings, up to cap."""
        return min(cap, sum(len(keys) for keys in self._lists(scope, term)))

    def postings(self, scope: int, term: Term, after: int, limit: int) -> list[int]:
        """Return the first keys after a key that a term's postings hold, ascending."""
        keys: set[int] = set()
        for found in self._lists(scope, term):
            keys.update(found[bisect_right(found, after) :][:limit])
        return sorted(keys)[:limit]

    def holding(self, scope: int, term: Term, keys: Sequence[int]) -> list[int]:
        """Return, in order, which of the keys the term's postings hold."""
        present = {key for found in self._lists(scope, term) for key in found}
        return [key for key in keys if key in present]

    def found(self, keys: Sequence[int]) -> list[SearchDoc]:
        """Return the documents of the keys that have one, by key."""
        return [self.docs[key] for key in sorted(keys) if key in self.docs]

    def totals(self) -> tuple[int, int]:
        """Return how many documents and postings the index holds."""
        postings = sum(len(keys) for terms in self._postings.values() for keys in terms.values())
        return len(self.docs), postings

    def _lists(self, scope: int, term: Term) -> list[list[int]]:
        terms = self._postings.get(scope, {})
        if not term.prefix:
            return [terms.get(term.word, [])]
        return [keys for word, keys in terms.items() if word.startswith(term.word)]

    def _delete(self, docs: Iterable[SearchDoc]) -> None:
        for doc in list(docs):
            del self.docs[doc.key]
            terms = self._postings[scope_id(doc.tenant, doc.env)]
            for term in (*doc.terms, thread_term(doc.thread_id)):
                terms[term].remove(doc.key)
                if not terms[term]:
                    del terms[term]
