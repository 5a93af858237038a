"""Payloads decode through the converter, and their canonical form is what it would give."""

from __future__ import annotations

from typing import Any, get_type_hints

import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chat_core.payloads  # noqa: F401  (registers the chat event types)
from chat_core.payloads import TemperatureConfigChanged, ThreadUpdated
from events.codec import EventCodec, UndecodableEvent, compile_canonical, default_registry
from tests.events.payloads import Noted

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, width=32),
    st.text(max_size=4),
    st.dictionaries(st.text(max_size=3), st.one_of(st.text(max_size=3), st.integers()), max_size=2),
    st.lists(st.integers(), max_size=2),
)


def _samples(cls: type[Any]) -> st.SearchStrategy[Any]:
    names = [a.name for a in attrs.fields(cls)]
    keys = st.sampled_from([*names, "extra"])
    return st.one_of(
        st.dictionaries(keys, _values, max_size=len(names) + 1),
        st.lists(st.integers(), max_size=2),
        st.text(max_size=3),
    )


def test_payload_decoder_still_upcasts_and_refuses() -> None:
    codec = EventCodec()
    assert codec.payload_from_json("test.noted", 1, b'{"body": "x"}') == Noted(text="x", priority=0)
    with pytest.raises(Exception, match="does not decode"):
        codec.payload_from_json("test.noted", 2, b'{"text": "x"}')


def test_payload_decoder_refuses_extra_keys() -> None:
    raw = b'{"text": "hi", "priority": 2, "extra": 1}'
    with pytest.raises(UndecodableEvent, match="does not decode"):
        EventCodec().payload_from_json("test.noted", 2, raw)


def test_payload_decoder_builds_exact_payloads() -> None:
    codec = EventCodec()
    raw = b'{"text": "hi", "priority": 2, "tags": {"a": "b"}}'
    assert codec.payload_from_json("test.noted", 2, raw) == Noted(
        text="hi", priority=2, tags={"a": "b"}
    )


# Every registered payload class has a canonical shortcut but these, whose fields it has
# no exact test for (floats that may come as ints in a validated mapping; tuples of names,
# which a thread update is rare enough to be decoded without).
WITHOUT_CANONICAL = {TemperatureConfigChanged, ThreadUpdated}
WITH_CANONICAL = [cls for cls in default_registry.types() if cls not in WITHOUT_CANONICAL]


@pytest.mark.parametrize("cls", sorted(WITHOUT_CANONICAL, key=lambda cls: cls.event_type))
def test_a_class_without_exact_tests_has_no_canonical_form(cls: type[Any]) -> None:
    assert compile_canonical(cls, EventCodec().converter) is None


@pytest.mark.parametrize("cls", WITH_CANONICAL, ids=lambda cls: cls.event_type)
@given(data=st.data())
def test_canonical_form_is_what_structure_then_unstructure_give(
    cls: type[Any], data: st.DataObject
) -> None:
    converter = EventCodec().converter
    canonical = compile_canonical(cls, converter)
    assert canonical is not None, f"{cls.event_type} lost its canonical form"
    # Twice each: the first call of a shape compiles it, the second runs the compiled one.
    for value in (data.draw(_samples(cls)), data.draw(_valid_samples(cls))):
        for _ in range(2):
            try:
                expected = converter.unstructure(converter.structure(value, cls))
            except Exception:
                expected = None
            shown = canonical(value)
            if shown is not None:
                assert expected is not None, f"accepted {value!r}, which the converter refuses"
                assert shown == expected
                assert [list(v) if isinstance(v, dict) else v for v in shown.items()] == [
                    list(v) if isinstance(v, dict) else v for v in expected.items()
                ]


def _valid_samples(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Dicts the converter unstructured from a built payload, keys shuffled or dropped."""
    hints = get_type_hints(cls)
    built = st.builds(cls, **{a.name: st.from_type(hints[a.name]) for a in attrs.fields(cls)})

    def of(payload: Any) -> st.SearchStrategy[Any]:
        full = EventCodec().converter.unstructure(payload)
        return st.permutations(list(full)).flatmap(
            lambda keys: st.integers(1, len(keys)).map(lambda cut: {k: full[k] for k in keys[:cut]})
        )

    return built.flatmap(of)


_TOOL_CALL = {"arguments": '{"city": "Paris"}', "name": "weather", "id": "call_1"}
_LLM = {"temperature": 0.5, "model": "gpt-x", "tool_calls": [_TOOL_CALL], "status": None}


@pytest.mark.parametrize(
    ("event_type", "stored"),
    [
        (
            "chat.message.posted",
            {
                "role": "assistant",
                "seq": 2,
                "thread_id": "th_1",
                "message_id": "msg_2",
                "llm": _LLM,
            },
        ),
        (
            "chat.message.completed",
            {
                "usage": {"output_tokens": 2, "input_tokens": 1},
                "message_id": "msg_2",
                "thread_id": "th_1",
                "tool_calls": [_TOOL_CALL, _TOOL_CALL],
            },
        ),
    ],
)
def test_nested_model_fields_take_the_canonical_form_in_field_order(
    event_type: str, stored: dict[str, Any]
) -> None:
    codec = EventCodec()
    cls = default_registry.payload_class(event_type)
    canonical = compile_canonical(cls, codec.converter)
    assert canonical is not None
    expected = codec.converter.unstructure(codec.converter.structure(stored, cls))
    # The same bytes as decoding gives: nested objects too in their fields' order.
    assert orjson.dumps(canonical(stored)) == orjson.dumps(expected)


@pytest.mark.parametrize(
    "llm",
    [
        {"temperature": 1},
        {"tool_calls": [{"id": "call_1", "name": "weather"}]},
        {"tool_calls": ({"id": "a", "name": "b", "arguments": "c"},)},
        {"usage": {"input_tokens": True, "output_tokens": 1}},
        {"model": "gpt-x", "extra": 1},
    ],
)
def test_nested_fields_it_is_unsure_of_are_left_to_the_decoder(llm: dict[str, Any]) -> None:
    cls = default_registry.payload_class("chat.message.posted")
    canonical = compile_canonical(cls, EventCodec().converter)
    assert canonical is not None
    stored = {"thread_id": "th_1", "message_id": "msg_2", "seq": 2, "role": "assistant"}
    assert canonical({**stored, "llm": llm}) is None
