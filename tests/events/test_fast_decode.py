"""The quick builders behind read_all build exactly what the checked paths build, or refuse."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_type_hints

import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chat_core.payloads  # noqa: F401  (registers the chat event types)
from events.codec import (
    EventCodec,
    UndecodableEvent,
    compile_canonical,
    compile_json_decoder,
    compile_structure,
    default_registry,
)
from events.envelope import DatasetEvent, InvalidContext, event_from_columns
from events.store.base import RecordedEvent
from events.store.sqlite_rows import RowDecoder, encode_event
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


def _row(event: DatasetEvent, position: int = 1) -> tuple[Any, ...]:
    return (position, *encode_event(EventCodec(), event))


def _outcome(decode: Callable[[list[tuple[Any, ...]]], list[Any]], row: tuple[Any, ...]) -> Any:
    try:
        return decode([row])
    except Exception as exc:
        return (type(exc), str(exc))


@given(datasets_events())
def test_rows_decode_into_the_events_they_were_made_from(event: DatasetEvent) -> None:
    decoder = RowDecoder(EventCodec())
    (recorded,) = decoder.decode([_row(event, 7)])
    assert recorded == RecordedEvent(event=event, position=7)
    assert type(recorded.event.event_id) is uuid.UUID
    assert type(recorded.event.metadata) is type(event.metadata)


# A column of a valid row, changed: (column index, stored value).
_ROW_EDITS = [
    (1, b"\x00"),
    (1, "abcdefghijklmnop"),
    (1, bytearray(VALID.event_id.bytes)),
    (2, ""),
    (2, " s"),
    (2, 5),
    (3, 0),
    (3, "1"),
    (3, True),
    (4, "no.such.type"),
    (5, 9),
    (6, "t_unknown"),
    (6, "T_acme"),
    (6, 5),
    (7, "qa"),
    (7, None),
    (8, ""),
    (8, "r\n"),
    (9, ""),
    (9, " padded"),
    (10, "\u2003actor"),
    (10, b"actor"),
    (11, "2025-01-01T00:00:00"),
    (11, "2025-01-01T01:00:00.000000+01:00"),
    (11, "yesterday"),
    (12, b"not json"),
    (12, b'{"text": 5}'),
    (12, 5),
    (13, b"{"),
    (13, b'{"k": "v"}'),
    (13, b"null"),
    (13, 5),
]


@pytest.mark.parametrize(("column", "value"), _ROW_EDITS)
def test_an_edited_row_decodes_or_fails_as_the_checked_path_says(column: int, value: Any) -> None:
    # The inline quick path of decode against the path through event_from_columns alone.
    row = list(_row(VALID))
    row[column] = value
    quick, checked = RowDecoder(EventCodec()), RowDecoder(EventCodec())
    expected = _outcome(checked._decode_checked, tuple(row))
    assert _outcome(quick.decode, tuple(row)) == expected


def test_the_trace_id_equal_to_the_request_id_is_still_checked() -> None:
    row = list(_row(VALID))
    row[8] = row[9] = " padded"
    with pytest.raises(UndecodableEvent, match="request_id"):
        RowDecoder(EventCodec()).decode([tuple(row)])


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
