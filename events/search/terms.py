"""Words of a text and terms of a query: the one tokenizing and normalizing rule.

A word is a maximal run of letters and digits (str.isalnum) after the text is
decomposed (NFKD), stripped of combining marks and case-folded: "Café" and "CAFE" are
the word "cafe", "naïve-ish" two words. A query is one or more words; a word written with
a trailing `*` matches every word it begins. Every backend indexes and matches the words
made here, so none of them tokenizes on its own (SQLite's and PostgreSQL's tokenizers
differ at the edges, and by locale).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from attrs import frozen

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "MAX_WORD_CHARS",
    "QueryError",
    "Term",
    "matches",
    "normalize",
    "parse_query",
    "words",
]

MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 16
# Longer runs (a base64 blob, a hash) are no words anyone searches for: not indexed.
MAX_WORD_CHARS = 64

_WORD = re.compile(r"[^\W_]+")
_QUERY_WORD = re.compile(r"([^\W_]+)(\*?)")


class QueryError(ValueError):
    """A query that asks nothing searchable; the message says what is wrong with it."""


@frozen
class Term:
    """One term of a query: a whole word, or with prefix the start of one."""

    word: str
    prefix: bool = False

    def matches(self, word: str) -> bool:
        """Tell whether an indexed word is this term."""
        return word.startswith(self.word) if self.prefix else word == self.word


def normalize(text: str) -> str:
    """Return text decomposed, without combining marks, case-folded."""
    if text.isascii():
        # Decomposition leaves ASCII as it is; every post's words take this path.
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold()


def words(text: str) -> list[str]:
    """Return the words of a text in order, repeats included (see the module docstring)."""
    return [word for word in _WORD.findall(normalize(text)) if len(word) <= MAX_WORD_CHARS]


def parse_query(query: str) -> tuple[Term, ...]:
    """Return a query's terms, each once, in order; QueryError says why there are none."""
    if not query.strip():
        raise QueryError("q is empty: give at least one word to search for")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"q is longer than {MAX_QUERY_CHARS} characters")
    found: dict[Term, None] = {}
    for word, star in _QUERY_WORD.findall(normalize(query)):
        if len(word) > MAX_WORD_CHARS:
            raise QueryError(f"q holds a word longer than {MAX_WORD_CHARS} characters")
        found[Term(word, prefix=bool(star))] = None
    if not found:
        raise QueryError("q holds no word: only punctuation, symbols or spaces")
    if len(found) > MAX_QUERY_TERMS:
        raise QueryError(f"q holds more than {MAX_QUERY_TERMS} words")
    return tuple(found)


def matches(terms: Sequence[Term], indexed: Iterable[str]) -> bool:
    """Tell whether a document's words hold every term."""
    present = set(indexed)
    for term in terms:
        if term.prefix:
            if not any(word.startswith(term.word) for word in present):
                return False
        elif term.word not in present:
            return False
    return True
