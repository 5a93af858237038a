"""message_view builds exactly the MessageView the constructor builds, still frozen."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_core.views import VIEW_FIELDS, MessageView, message_view

texts = st.text(min_size=1, max_size=20)


def test_the_builder_sets_the_fields_it_was_written_for() -> None:
    assert VIEW_FIELDS == (
        "id",
        "thread_id",
        "seq",
        "role",
        "content",
        "metadata",
        "author",
        "created_at",
        "request_id",
        "redacted",
        "erased",
        "sealed",
        "_json",
        "_bytes",
    )


@given(
    ids=texts,
    seq=st.integers(min_value=1, max_value=2**53),
    content=st.none() | texts,
    metadata=st.dictionaries(texts, texts, max_size=3).map(MappingProxyType),
    redacted=st.booleans(),
    erased=st.booleans(),
    sealed=st.none() | texts,
    moment=st.datetimes(timezones=st.just(UTC)),
)
def test_a_built_view_is_the_constructed_view_field_by_field(
    ids: str,
    seq: int,
    content: str | None,
    metadata: MappingProxyType[str, str],
    redacted: bool,
    erased: bool,
    sealed: str | None,
    moment: datetime,
) -> None:
    values = (f"msg_{ids}", f"th_{ids}", seq, "user", content, metadata, "u_a", moment, ids)
    flags = {"redacted": redacted, "erased": erased, "sealed": sealed}
    built = message_view(*values, **flags)
    constructed = MessageView(
        id=values[0],
        thread_id=values[1],
        seq=seq,
        role="user",
        content=content,
        metadata=metadata,
        author="u_a",
        created_at=moment,
        request_id=ids,
        **flags,
    )
    for name in VIEW_FIELDS:
        assert getattr(built, name) == getattr(constructed, name), name
    assert built == constructed
    assert built.to_json() == constructed.to_json()
    assert built.json_bytes() == constructed.json_bytes()


def test_a_built_view_is_frozen() -> None:
    view = message_view(
        "msg_1", "th_1", 1, "user", "hi", MappingProxyType({}), "u_a", datetime.now(UTC), "r"
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        view.content = "changed"  # type: ignore[misc]
