"""The quick builders behind read_all build exactly what the checked paths build, or refuse."""

from __future__ import annotations

from typing import Any, get_type_hints

import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chat_core.payloads  # noqa: F401  (registers the chat event types)
from events.codec import (
    EventCodec,
    compile_canonical,
    compile_json_decoder,
    compile_structure,
    default_registry,
)
from events.envelope import DatasetEvent
from tests.events.factories import make_event
from tests.events.payloads import Noted

VALID = make_event("s", 1)
FIELDS = [a.name for a in attrs.fields(DatasetEvent)]


def columns(event: DatasetEvent, **changes: Any) -> list[Any]:
    values = {name: getattr(event, name) for name in FIELDS}
    values.update(changes)
    return [values[name] for name in FIELDS]


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


@pytest.mark.parametrize("cls", default_registry.types(), ids=lambda cls: cls.event_type)
@given(data=st.data())
def test_compiled_structure_agrees_with_the_converter(cls: type[Any], data: st.DataObject) -> None:
    fast = compile_structure(cls)
    if fast is None:
        return
    converter = EventCodec().converter
    value = data.draw(_samples(cls))
    try:
        expected = converter.structure(value, cls)
    except Exception:
        expected = None
    try:
        built = fast(value)
    except Exception:
        built = None
    if built is not None:
        assert expected is not None, f"accepted {value!r}, which the converter refuses"
        assert built == expected
        assert type(built) is cls


def test_compiled_structure_builds_valid_payloads_the_same() -> None:
    fast = compile_structure(Noted)
    assert fast is not None
    sample = {"text": "hi", "priority": 2, "tags": {"a": "b"}}
    assert fast(sample) == EventCodec().converter.structure(sample, Noted)
    assert fast({"text": "hi", "priority": 2}) == Noted(text="hi", priority=2)
    assert fast({"text": "hi", "priority": 2, "extra": 1}) is None
    assert fast({"text": "hi", "priority": 2.0}) is None


def test_payload_decoder_still_upcasts_and_refuses() -> None:
    codec = EventCodec()
    assert codec.payload_from_json("test.noted", 1, b'{"body": "x"}') == Noted(text="x", priority=0)
    with pytest.raises(Exception, match="does not decode"):
        codec.payload_from_json("test.noted", 2, b'{"text": "x"}')


@pytest.mark.parametrize("cls", default_registry.types(), ids=lambda cls: cls.event_type)
@given(data=st.data())
def test_canonical_form_is_what_structure_then_unstructure_give(
    cls: type[Any], data: st.DataObject
) -> None:
    converter = EventCodec().converter
    canonical = compile_canonical(cls, converter)
    if canonical is None:
        return
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


class _Fallback(Exception):
    """What the test's fallback raises: the compiled decoder was not sure."""


def _fallback(raw: bytes | str) -> Any:
    raise _Fallback


@pytest.mark.parametrize("cls", default_registry.types(), ids=lambda cls: cls.event_type)
@given(data=st.data())
def test_compiled_json_decoder_builds_what_the_converter_builds(
    cls: type[Any], data: st.DataObject
) -> None:
    decode = compile_json_decoder(cls, orjson.loads, _fallback)
    if decode is None:
        return
    converter = EventCodec().converter
    for value in (data.draw(_samples(cls)), data.draw(_valid_samples(cls))):
        try:
            raw = orjson.dumps(value)
        except TypeError:
            continue  # a number too big for JSON: no stored payload holds one
        try:
            built = decode(raw)
        except _Fallback:
            continue
        assert built == converter.structure(value, cls)
        assert type(built) is cls


def test_compiled_json_decoder_falls_back_on_what_does_not_parse() -> None:
    decode = compile_json_decoder(Noted, orjson.loads, lambda raw: Noted(text="slow", priority=0))
    assert decode is not None
    assert decode(b"not json") == Noted(text="slow", priority=0)
    assert decode(b'{"text": "hi", "priority": 2, "extra": 1}') == Noted(text="slow", priority=0)
    assert decode(b'{"text": "hi", "priority": 2}') == Noted(text="hi", priority=2)
