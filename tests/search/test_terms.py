"""The one rule of words and queries every backend indexes and matches by."""

from __future__ import annotations

import pytest

from events.search.records import MAX_RANKED_WORDS, rank_key
from events.search.terms import QueryError, Term, matches, parse_query, words


def test_words_are_runs_of_letters_and_digits_without_case_or_accents() -> None:
    assert words("Café-Crème, NAÏVE x2! straße ﬁsh_bowl") == [
        "cafe",
        "creme",
        "naive",
        "x2",
        "strasse",
        "fish",
        "bowl",
    ]


def test_a_word_longer_than_64_characters_is_not_indexed() -> None:
    assert words("a" * 65 + " short") == ["short"]


def test_a_query_keeps_each_term_once_and_a_trailing_star_makes_a_prefix() -> None:
    assert parse_query("Caf* café CAFE x") == (Term("caf", prefix=True), Term("cafe"), Term("x"))


@pytest.mark.parametrize(
    ("q", "detail"),
    [
        ("", "empty"),
        (" \t ", "empty"),
        ("*** ?!", "only punctuation"),
        ("a" * 201, "longer than 200"),
        (" ".join(f"w{n}" for n in range(17)), "more than 16 words"),
    ],
)
def test_a_query_with_nothing_to_search_says_why(q: str, detail: str) -> None:
    with pytest.raises(QueryError, match=detail):
        parse_query(q)


def test_a_document_matches_when_it_holds_every_term() -> None:
    terms = parse_query("quick bro*")
    assert matches(terms, ["the", "quick", "brown"])
    assert not matches(terms, ["the", "quick"])
    assert not matches(terms, ["quickly", "brown"])


def test_fewer_words_rank_first_then_newer() -> None:
    assert rank_key(2, 10) < rank_key(3, 11) < rank_key(3, 5)
    assert rank_key(MAX_RANKED_WORDS + 50, 1) == rank_key(MAX_RANKED_WORDS, 1) < 2**53
