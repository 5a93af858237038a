"""A snippet found by the query's one compiled pattern, its spaces closed up without a regex
when the text allows, is the snippet the plain word-by-word rule makes."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from chat_core.search import snippet
from events.search.terms import Term, words
from tests.search.helpers import Client, new_thread, post, search

_WORD = re.compile(r"[^\W_]+")
# Words no longer than the index keeps (64), so that every one of them is a word.
_ASCII_WORDS = st.text("abcKXyz019", min_size=1, max_size=12)
_GAPS = st.sampled_from([" ", "  ", ", ", "\n", "\t ", "_", " - ", "\u00a0", "\u2028", "é "])


def _plain(content: str, terms: list[Term]) -> str:
    """Make a snippet as the rule says, a word at a time and every run of spaces by regex."""
    start = 0
    for token in _WORD.finditer(content):
        if any(term.matches(word) for word in words(token.group()) for term in terms):
            start = token.start()
            break
    begin = max(0, start - 60)
    if begin:
        space = content.find(" ", begin, start)
        begin = space + 1 if space != -1 else begin
    end = min(len(content), begin + 160)
    if end < len(content):
        space = content.rfind(" ", start, end)
        end = space if space > start else end
    text = re.sub(r"\s+", " ", content[begin:end]).strip()
    return ("…" if begin else "") + text + ("…" if end < len(content) else "")


@st.composite
def _texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(_ASCII_WORDS, _GAPS), max_size=60))
    lead = draw(_GAPS) if draw(st.booleans()) else ""
    return lead + "".join(word + gap for word, gap in parts)


_TERMS = st.lists(
    st.builds(Term, st.text("abckxyz019", min_size=1, max_size=4), st.booleans()),
    min_size=1,
    max_size=3,
)


@given(_texts(), _TERMS)
def test_a_snippet_is_what_the_word_by_word_rule_makes(content: str, terms: list[Term]) -> None:
    assert snippet(content, terms) == _plain(content, terms)


@given(st.text(st.sampled_from("ab \t\n\u00a0\u3000\x1f\x85é"), max_size=300), _TERMS)
def test_any_white_space_closes_up_as_the_pattern_would(content: str, terms: list[Term]) -> None:
    assert snippet(content, terms) == _plain(content, terms)


def test_a_snippet_of_a_long_text_starts_at_a_space_before_the_first_match() -> None:
    content = " ".join(f"w{n}" for n in range(100)) + " Target " + "tail " * 40
    found = snippet(content, [Term("target")])
    assert found.startswith("…") and found.endswith("…")
    assert "Target" in found and len(found) <= 162


async def test_a_message_found_again_by_other_words_shows_their_snippet(
    memory_client: Client,
) -> None:
    thread_id = await new_thread(memory_client)
    text = " ".join(f"w{n}" for n in range(40)) + " start " + " ".join(f"v{n}" for n in range(40))
    text += " end"
    await post(memory_client, thread_id, text)

    async def shown(q: str) -> str:
        snipped: str = (await search(memory_client, q))["data"][0]["snippet"]
        return snipped

    first = await shown("start")
    assert first == snippet(text, [Term("start")])
    assert await shown("start") == first
    assert await shown("END") == snippet(text, [Term("end")]) != first
    assert await shown("start w1") == snippet(text, [Term("start"), Term("w1")]) != first
    assert await shown("start") == first
