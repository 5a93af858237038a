"""Hypothesis strategies for envelopes, contexts and test payloads, shared by every test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from events.envelope import RESERVED_TENANT, TENANT_PATTERN, DatasetEvent, Env
from tests.events.payloads import Noted, Pinged

__all__ = [
    "datasets_events",
    "invalid_tenants",
    "near_miss_tenants",
    "payloads",
    "request_ids",
    "tenants",
    "utc_times",
]

_TAIL = "abcdefghijklmnopqrstuvwxyz0123456789_-"

tenants = st.builds(
    lambda head, tail: f"t_{head}{tail}",
    st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"),
    st.text(alphabet=_TAIL, max_size=62),
).filter(lambda tenant: tenant != RESERVED_TENANT)


def _is_valid_tenant(text: str) -> bool:
    return TENANT_PATTERN.fullmatch(text) is not None and text != RESERVED_TENANT


invalid_tenants = st.text().filter(lambda text: not _is_valid_tenant(text))

near_miss_tenants = st.one_of(
    st.just(RESERVED_TENANT),
    tenants.map(lambda t: f" {t}"),
    tenants.map(lambda t: f"{t} "),
    tenants.map(lambda t: f"{t}\n"),
    tenants.map(str.upper),
    tenants.filter(lambda t: re.search("[a-z]", t[2:]) is not None).map(
        lambda t: t[:2] + t[2:].upper()
    ),
    tenants.map(lambda t: t + "a" * (66 - len(t))),
    tenants.map(lambda t: t[2:] or "acme"),
    tenants.map(lambda t: "t_" + "_" + t[2:]),
    tenants.map(lambda t: "T" + t[1:]),
).filter(lambda text: not _is_valid_tenant(text))

request_ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1
).filter(lambda text: text.strip() == text)

utc_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)

_small_maps = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)

payloads = st.one_of(
    st.builds(Noted, text=st.text(), priority=st.integers(-(2**53), 2**53), tags=_small_maps),
    st.builds(Pinged, target=st.text()),
)


@st.composite
def datasets_events(draw: st.DrawFn) -> DatasetEvent:
    """Draw a valid DatasetEvent with a test payload."""
    request_id = draw(request_ids)
    return DatasetEvent(
        event_id=draw(st.uuids()),
        stream=draw(request_ids),
        version=draw(st.integers(1, 2**31)),
        tenant=draw(tenants),
        env=draw(st.sampled_from(Env)),
        request_id=request_id,
        trace_id=request_id,
        actor=draw(request_ids),
        occurred_at=draw(utc_times) + timedelta(0),
        payload=draw(payloads),
        metadata=draw(_small_maps),
    )
