"""message_view builds exactly the MessageView the constructor builds, still frozen."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from types import MappingProxyType

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_core.views import MessageView, message_view
from tests.calls import calls_of

texts = st.text(min_size=1, max_size=20)


def test_the_builder_takes_the_init_fields_of_message_view_in_order() -> None:
    init = [a.alias for a in attrs.fields(MessageView) if a.init]
    assert list(inspect.signature(message_view).parameters) == init


def test_the_builder_skips_the_constructor() -> None:
    # Fails when the fast path is gone: the constructor would run for every view.
    moment = datetime.now(UTC)
    values = ("msg_1", "th_1", 1, "user", "hi", MappingProxyType({}), "u_a", moment, "r")
    assert calls_of(MessageView.__init__, lambda: message_view(*values)) == 0


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
    for name in (a.name for a in attrs.fields(MessageView)):
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
