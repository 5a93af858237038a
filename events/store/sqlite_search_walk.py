"""SQLite's fast path of a search: the walk over the postings in one statement.

A query of whole words (its thread's term included) is answered as the walk of
search_reads answers it: the rarest term drives, in key order, and a document is kept when
every other term has a posting of it and its words hold them all (holds()). Here one
statement does the driving, the probing and the reading of the documents, row by row
inside SQLite, instead of a statement apiece, each with its keys passed as JSON and its
rows turned into Python in between: for the two rare words of bench.search, 219-231 us
of CPU a first page of 21 against 345-421 us for walk_now's eight statements, and 119-159
us against 180-207 us for its one common word (both on one thread, 50,000 messages, the
statements and the Python of the walk, process_time over 1,000 searches). A query with a
prefix is walked as the other backends walk it (walk_now): probing a range of words per
posting would cost more than a chunk's probe does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from attrs import frozen

from events.search.records import SearchDoc, SearchQuery
from events.store.search_reads import (
    DOC_COLUMNS,
    CountStep,
    holds,
    row_doc,
    step_result,
    step_sql,
    walk,
    walk_now,
    walked_terms,
)
from events.store.sqlite_search import STATEMENTS

__all__ = ["LOOP_POSTINGS", "SearchPlan", "plan", "search_now", "walk_first", "walk_planned"]

RowsOf = Callable[[str, tuple[Any, ...]], Sequence[Sequence[Any]]]


# The driver's postings a first walk on the event loop reads at most.
LOOP_POSTINGS = 256
_NTH_POSTING = (
    "SELECT key FROM search_postings WHERE scope = ? AND term = ? AND key > ? "
    "ORDER BY key LIMIT 1 OFFSET ?"
)


@frozen
class SearchPlan:
    """Where a walk of whole words starts: its driver (None when a term has no posting)."""

    scope: int
    driver: str | None
    others: tuple[str, ...]


def search_now(query: SearchQuery, rows_of: RowsOf) -> list[SearchDoc]:
    """Return up to limit documents after the query's key that hold every term, best first."""
    planned = plan(query, rows_of)
    if planned is None:
        return walk_now(walk(query), STATEMENTS, rows_of)
    return walk_planned(planned, query, rows_of)


def plan(query: SearchQuery, rows_of: RowsOf) -> SearchPlan | None:
    """Count a query's terms (up to COUNT_CAP each) to pick its driver; None with a prefix."""
    if any(term.prefix for term in query.terms):
        return None
    scope, walked = walked_terms(query)
    if len(walked) == 1:
        return SearchPlan(scope=scope, driver=walked[0].word, others=())
    counts = [_count(CountStep(scope, term), rows_of) for term in walked]
    fewest = min(counts)
    driver = walked[counts.index(fewest)]
    return SearchPlan(
        scope=scope,
        driver=driver.word if fewest else None,
        others=tuple(term.word for term in walked if term is not driver),
    )


def walk_planned(planned: SearchPlan, query: SearchQuery, rows_of: RowsOf) -> list[SearchDoc]:
    """Walk the driver's postings in one statement, probing the others; keep what holds."""
    return _walked(planned, query, rows_of, None)


def walk_first(
    planned: SearchPlan, query: SearchQuery, rows_of: RowsOf
) -> tuple[list[SearchDoc], int | None]:
    """Walk at most LOOP_POSTINGS of the driver's postings after the query's key.

    Return what holds, and the key the walk goes on after when the page is not full
    and the driver has more postings (else None: the answer is complete).
    """
    if planned.driver is None:
        return [], None
    nth = rows_of(_NTH_POSTING, (planned.scope, planned.driver, query.after, LOOP_POSTINGS - 1))
    upto = int(nth[0][0]) if nth else None
    found = _walked(planned, query, rows_of, upto)
    return found, upto if len(found) < query.limit else None


def _walked(
    planned: SearchPlan, query: SearchQuery, rows_of: RowsOf, upto: int | None
) -> list[SearchDoc]:
    """Walk the driver's postings after the query's key (up to and with upto, if given)."""
    if planned.driver is None:
        return []
    sql = _statement(len(planned.others), upto is not None)
    probes = tuple(value for word in planned.others for value in (planned.scope, word))
    bound = () if upto is None else (upto,)
    found: list[SearchDoc] = []
    after = query.after
    while len(found) < query.limit:
        wanted = query.limit - len(found)
        rows = rows_of(sql, (planned.scope, planned.driver, after, *bound, *probes, wanted))
        docs = [row_doc(row) for row in rows]
        found += [doc for doc in docs if holds(doc, query)]
        if len(rows) < wanted:
            break
        after = docs[-1].key
    return found


def _count(step: CountStep, rows_of: RowsOf) -> int:
    count: int = step_result(step, rows_of(*step_sql(STATEMENTS, step)))
    return count


@functools.cache
def _statement(others: int, bounded: bool) -> str:
    """Return the statement that walks a driver's postings probing that many other terms."""
    columns = ", ".join(f"d.{column}" for column in DOC_COLUMNS.split(", "))
    probes = "".join(
        f" AND EXISTS (SELECT 1 FROM search_postings p{n}"  # noqa: S608 (no value goes in)
        f" WHERE p{n}.scope = ? AND p{n}.term = ? AND p{n}.key = p.key)"
        for n in range(others)
    )
    upto = " AND p.key <= ?" if bounded else ""
    return (
        f"SELECT {columns} FROM search_postings p JOIN search_docs d ON d.key = p.key"  # noqa: S608
        f" WHERE p.scope = ? AND p.term = ? AND p.key > ?{upto}{probes} ORDER BY p.key LIMIT ?"
    )
