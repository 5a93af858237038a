"""Timestamps as text: the last one formatted is reused, never confused with another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from chat_core.views import rfc3339
from events.store.sqlite_rows import encode_time

moments = st.datetimes(timezones=st.just(UTC))


@given(st.lists(moments, min_size=1, max_size=8))
def test_each_moment_reads_as_itself_whatever_came_before(sequence: list[datetime]) -> None:
    for moment in [*sequence, *reversed(sequence)]:
        assert rfc3339(moment) == moment.isoformat().replace("+00:00", "Z")
        assert encode_time(moment) == moment.isoformat(timespec="microseconds")


def test_equal_moments_in_other_zones_are_encoded_in_utc() -> None:
    moment = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    shifted = moment.astimezone(timezone(timedelta(hours=2)))
    assert encode_time(moment) == encode_time(shifted) == "2026-11-26T10:00:00.000000+00:00"
