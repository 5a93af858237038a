"""Message ids name their seq: the fold's quick check agrees with the reader's parse."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chat_core.streams import names_seq, new_message_id, seq_in_message_id

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
