"""Each constructor bypass of events.fastpath builds what its constructor builds, and is used."""

from __future__ import annotations

import inspect
import uuid
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import attrs
import pytest
from attrs import field, frozen
from hypothesis import given
from hypothesis import strategies as st

from events.envelope import DatasetEvent, InvalidContext
from events.fastpath import event_from_columns, slot_builder
from tests.calls import calls_of
from tests.events.factories import make_event
from tests.strategies import datasets_events, invalid_tenants, near_miss_tenants

VALID = make_event("s", 1)
FIELDS = [a.name for a in attrs.fields(DatasetEvent)]


def columns(event: DatasetEvent, **changes: Any) -> list[Any]:
    values = {name: getattr(event, name) for name in FIELDS}
    values.update(changes)
    return [values[name] for name in FIELDS]


def test_event_from_columns_takes_the_fields_of_dataset_event_in_order() -> None:
    assert list(inspect.signature(event_from_columns).parameters) == FIELDS


def test_valid_columns_build_the_event_without_its_constructor() -> None:
    # Fails when the fast path is gone: the constructor would run for every event.
    values = columns(VALID)
    assert calls_of(DatasetEvent.__init__, lambda: event_from_columns(*values)) == 0


class _AlsoUTC(tzinfo):
    """A UTC that is not the datetime.UTC singleton: the quick test is not sure of it."""

    def utcoffset(self, _moment: datetime | None) -> timedelta:
        return timedelta(0)


def test_columns_the_quick_test_is_unsure_of_go_through_the_constructor() -> None:
    moment = datetime(2025, 1, 1, tzinfo=_AlsoUTC())
    values = columns(VALID, occurred_at=moment)
    assert calls_of(DatasetEvent.__init__, lambda: event_from_columns(*values)) == 1


@given(datasets_events())
def test_built_from_columns_equals_the_constructed_event(event: DatasetEvent) -> None:
    built = event_from_columns(*columns(event))
    assert built == event
    assert type(built.metadata) is type(event.metadata)


def test_a_field_with_a_converter_is_stored_converted() -> None:
    # Fails when the builder stores a value its field's converter would have changed.
    values = columns(VALID, metadata={"k": "v"})
    built = event_from_columns(*values)
    constructed = DatasetEvent(**dict(zip(FIELDS, values, strict=True)))
    assert built == constructed
    assert type(built.metadata) is type(constructed.metadata) is not dict


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
def test_columns_failing_a_check_are_refused_as_the_constructor_refuses(
    name: str, value: object, error: type[Exception]
) -> None:
    with pytest.raises(error) as built:
        event_from_columns(*columns(VALID, **{name: value}))
    with pytest.raises(error) as constructed:
        DatasetEvent(**dict(zip(FIELDS, columns(VALID, **{name: value}), strict=True)))
    assert str(built.value) == str(constructed.value)


def test_a_utc_offset_other_than_the_singleton_still_builds() -> None:
    moment = datetime(2025, 1, 1, tzinfo=_AlsoUTC())
    built = event_from_columns(*columns(VALID, occurred_at=moment))
    assert built == attrs.evolve(VALID, occurred_at=moment)
    assert built.occurred_at.tzinfo is UTC or built.occurred_at.utcoffset() == timedelta(0)


def test_a_built_event_is_still_frozen_and_evolve_still_checks() -> None:
    built = event_from_columns(*columns(VALID))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.tenant = "t_other"  # type: ignore[misc]
    with pytest.raises(InvalidContext):
        attrs.evolve(built, tenant="t_unknown")


def test_uuid_columns_round_trip() -> None:
    value = uuid.uuid4()
    assert event_from_columns(*columns(VALID, event_id=value)).event_id == value


@frozen
class _Hooked:
    value: int

    def __attrs_post_init__(self) -> None:
        pass


@frozen
class _Factory:
    values: list[int] = field(factory=list)


@frozen
class _Validated:
    value: int = field(validator=attrs.validators.instance_of(int))


@pytest.mark.parametrize("cls", [_Hooked, _Factory, _Validated])
def test_a_class_it_cannot_build_exactly_is_refused_at_once(cls: type[Any]) -> None:
    with pytest.raises(TypeError):
        slot_builder(cls)
