"""The one rule of words and queries every backend indexes and matches by."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.search.records import MAX_RANKED_WORDS, rank_key
from events.search.terms import (
    QueryError,
    Term,
    ascii_words,
    matches,
    parse_query,
    unicode_words,
    words,
)


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


# Short runs of letters and digits between every kind of ASCII separator, long ones too.
_ASCII = st.text(
    st.sampled_from(
        string.ascii_letters
        + string.digits
        + string.punctuation
        + " \t\n\r\x0b\x0c\x00\x1c\x1f\x7f_"
    ),
    max_size=200,
) | st.lists(
    st.text(string.ascii_letters + string.digits, min_size=60, max_size=70), max_size=4
).map("_-".join)


@given(_ASCII)
def test_the_ascii_fast_path_finds_the_words_the_general_rule_finds(text: str) -> None:
    assert ascii_words(text) == unicode_words(text)


def test_ascii_text_takes_the_fast_path_and_other_text_the_general_rule() -> None:
    assert words("Mind the GAP_2 x" + "y" * 64) == ascii_words("Mind the GAP_2 x" + "y" * 64)
    assert words("Mind the GAP_2") == ["mind", "the", "gap", "2"]
    assert words("Ça va, GAP_2") == unicode_words("Ça va, GAP_2") == ["ca", "va", "gap", "2"]


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
