"""DatasetEvent refuses every context no event may carry, and cannot be changed once built."""

from __future__ import annotations

import uuid
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.envelope import DatasetEvent, InvalidContext, check_tenant
from tests.events.factories import make_event
from tests.events.payloads import Noted
from tests.strategies import datasets_events, invalid_tenants, near_miss_tenants, tenants

VALID = make_event("s", 1)


def build(**changes: Any) -> DatasetEvent:
    """Build VALID's fields with some replaced, through the constructor."""
    fields = {a.name: getattr(VALID, a.name) for a in attrs.fields(DatasetEvent)}
    return DatasetEvent(**{**fields, **changes})


@given(tenants)
def test_valid_tenants_are_accepted(tenant: str) -> None:
    assert build(tenant=tenant).tenant == tenant


@given(st.one_of(invalid_tenants, near_miss_tenants))
def test_every_invalid_tenant_is_refused(tenant: str) -> None:
    with pytest.raises(InvalidContext):
        build(tenant=tenant)


@given(st.one_of(invalid_tenants, near_miss_tenants))
def test_evolve_cannot_bypass_the_tenant_check(tenant: str) -> None:
    with pytest.raises(InvalidContext):
        attrs.evolve(VALID, tenant=tenant)


@pytest.mark.parametrize("tenant", [None, 42, b"t_acme", "t_unknown", "", "t_"])
def test_non_strings_and_reserved_tenants_are_refused(tenant: object) -> None:
    with pytest.raises(InvalidContext):
        build(tenant=tenant)


@pytest.mark.parametrize("env", ["dev", "DEV", "production", None, 1])
def test_env_must_be_an_env_member(env: object) -> None:
    with pytest.raises(InvalidContext):
        build(env=env)


@given(st.sampled_from(["", " ", "\t", " req", "req ", "req\n", "\u2003req"]))
def test_blank_or_padded_request_ids_are_refused(request_id: str) -> None:
    with pytest.raises(InvalidContext):
        build(request_id=request_id)
    with pytest.raises(InvalidContext):
        attrs.evolve(VALID, request_id=request_id)


@given(datasets_events())
def test_attributes_cannot_be_set(event: DatasetEvent) -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.tenant = "t_other"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.payload.text = "changed"  # type: ignore[attr-defined]


@given(datasets_events())
def test_metadata_cannot_be_mutated(event: DatasetEvent) -> None:
    with pytest.raises(TypeError):
        event.metadata["k"] = "v"  # type: ignore[index]


def test_payload_mappings_cannot_be_mutated() -> None:
    payload = Noted(text="x", priority=1, tags={"a": "b"})
    with pytest.raises(TypeError):
        payload.tags["a"] = "c"  # type: ignore[index]


def test_caller_mapping_changes_do_not_reach_the_event() -> None:
    metadata = {"k": "v"}
    event = make_event("s", 1, metadata=metadata)
    metadata["k"] = "changed"
    assert event.metadata["k"] == "v"


def test_event_id_must_be_a_uuid() -> None:
    with pytest.raises(TypeError):
        build(event_id=str(uuid.uuid4()))


@given(st.lists(tenants, min_size=1, max_size=20), st.one_of(invalid_tenants, near_miss_tenants))
def test_tenants_checked_before_never_let_an_invalid_one_through(
    passed: list[str], invalid: str
) -> None:
    # check_tenant remembers the tenants that passed; a refused one must stay refused.
    for tenant in passed:
        assert check_tenant(tenant) == tenant
    for _ in range(2):
        with pytest.raises(InvalidContext):
            check_tenant(invalid)


def test_a_str_subclass_is_checked_afresh_every_time() -> None:
    class Sneaky(str):
        # Equal to anything, hashed like a tenant that passed: a set lookup would match.
        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return hash("t_acme")

    assert check_tenant("t_acme") == "t_acme"
    with pytest.raises(InvalidContext):
        check_tenant(Sneaky("t_unknown"))
