"""The quick builders behind read_all build exactly what the checked paths build, or refuse."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_type_hints

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chat_core.payloads  # noqa: F401  (registers the chat event types)
from events.codec import EventCodec, compile_canonical, compile_structure, default_registry
from events.envelope import DatasetEvent, InvalidContext, event_from_columns
from tests.events.factories import make_event
from tests.events.payloads import Noted
from tests.strategies import datasets_events, invalid_tenants, near_miss_tenants

VALID = make_event("s", 1)
FIELDS = [a.name for a in attrs.fields(DatasetEvent)]


def columns(event: DatasetEvent, **changes: Any) -> list[Any]:
    values = {name: getattr(event, name) for name in FIELDS}
    values.update(changes)
    return [values[name] for name in FIELDS]


@given(datasets_events())
def test_built_from_columns_equals_the_constructed_event(event: DatasetEvent) -> None:
    built = event_from_columns(*columns(event))
    assert built == event
    assert type(built.metadata) is type(event.metadata)


@given(st.one_of(invalid_tenants, near_miss_tenants, st.just("t_unknown")))
def test_columns_with_a_bad_tenant_are_refused(tenant: str) -> None:
    with pytest.raises(InvalidContext):
        event_from_columns(*columns(VALID, tenant=tenant))


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("env", "dev", InvalidContext),
        ("env", None, InvalidContext),
        ("request_id", "", InvalidContext),
        ("request_id", " r", InvalidContext),
        ("trace_id", "r\n", InvalidContext),
        ("actor", "", InvalidContext),
        ("stream", " s", InvalidContext),
        ("version", 0, ValueError),
        ("version", True, ValueError),
        ("event_id", b"0" * 16, TypeError),
        ("occurred_at", datetime(2025, 1, 1), ValueError),
        ("occurred_at", datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=1))), ValueError),
        ("payload", object(), TypeError),
    ],
)
def test_columns_failing_a_check_are_refused(name: str, value: object, error: type) -> None:
    with pytest.raises(error):
        event_from_columns(*columns(VALID, **{name: value}))


def test_a_utc_offset_other_than_the_singleton_still_builds() -> None:
    moment = datetime(2025, 1, 1, tzinfo=timezone(timedelta(0)))
    built = event_from_columns(*columns(VALID, occurred_at=moment))
    assert built == attrs.evolve(VALID, occurred_at=moment)
    assert built.occurred_at.tzinfo is UTC or built.occurred_at.utcoffset() == timedelta(0)


def test_a_built_event_is_still_frozen_and_evolve_still_checks() -> None:
    built = event_from_columns(*columns(VALID))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.tenant = "t_other"  # type: ignore[misc]
    with pytest.raises(InvalidContext):
        attrs.evolve(built, tenant="t_unknown")


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


def test_uuid_columns_round_trip() -> None:
    value = uuid.uuid4()
    assert event_from_columns(*columns(VALID, event_id=value)).event_id == value


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
