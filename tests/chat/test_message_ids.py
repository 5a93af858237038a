"""Message ids name their seq: the fold's quick check agrees with the reader's parse."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from chat_core.state import names_seq, new_message_id, seq_in_message_id

SEQS = st.integers(min_value=1, max_value=16**12 - 1)


@given(SEQS)
def test_a_new_message_id_names_its_own_seq(seq: int) -> None:
    message_id = new_message_id(seq)
    assert names_seq(message_id, seq)
    assert seq_in_message_id(message_id) == seq


@given(SEQS, SEQS)
def test_a_new_message_id_names_no_other_seq(seq: int, other: int) -> None:
    assert names_seq(new_message_id(seq), other) == (seq == other)


@given(st.text(alphabet="msg_0123456789abcdefx-", max_size=24), SEQS)
def test_names_seq_never_claims_a_seq_the_reader_would_not_find(message_id: str, seq: int) -> None:
    if names_seq(message_id, seq):
        assert seq_in_message_id(message_id) == seq


def test_a_new_message_id_carries_twenty_base64url_characters_of_fresh_randomness() -> None:
    made = [new_message_id(7) for _ in range(1000)]
    assert len(set(made)) == len(made)
    for message_id in made:
        assert re.fullmatch(r"msg_7-[A-Za-z0-9_-]{20}", message_id), message_id
    alphabet = {char for message_id in made for char in message_id[6:]}
    assert {"-", "_"} <= alphabet  # the url-safe characters, never + or /
