"""Export from stored rows gives the very bytes of export from decoded events, or refuses."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from events.codec import CodecError, EventCodec
from events.store.base import EventFilter
from events.store.sqlite_row_checker import RowChecker
from events.store.sqlite_schema import COLUMNS
from events.tooling import Selection
from tests.tooling.conftest import Cli
from tests.tooling.logs import export_bytes, rows, sql


def _both(url: str, selection: Selection | None = None, *, view: bool = True) -> bytes:
    selection = selection or Selection()
    fast = asyncio.run(export_bytes(url, selection, rows_path=True, view=view))
    slow = asyncio.run(export_bytes(url, selection, rows_path=False, view=view))
    assert fast == slow
    return fast


def test_rows_and_decoded_events_export_the_same_bytes(cli: Cli, old_log: str) -> None:
    # Sealed messages, redactions, an erased author, idempotency metadata, temperature
    # configs (no shortcut) and schema-1 notes (upcast) all in one log.
    assert cli("erase", "--store", old_log, "--tenant", "t_acme", "--subject", "u_ada")[0] == 0
    out = _both(old_log)
    records = [orjson.loads(line) for line in out.splitlines()]
    assert len(records) == rows(old_log, "SELECT COUNT(*) FROM events")[0][0]
    assert any(r["payload"].get("erased") for r in records)  # type: ignore[union-attr]
    assert any(r["payload"].get("redacted") for r in records)  # type: ignore[union-attr]
    assert _both(old_log, view=False)
    assert _both(old_log, Selection(after=3, before=40))
    partition = EventFilter(tenants=["t_globex"], types=["chat.message.posted"])
    assert _both(old_log, Selection(event_filter=partition))


@pytest.mark.parametrize(
    "edit",
    [
        # Still valid, but not as the codec writes it: each must export as decoding shows it.
        "UPDATE events SET occurred_at = '2025-01-01T00:00:00.000000+00:00' WHERE position = 2",
        "UPDATE events SET occurred_at = '2025-01-01T00:00:00,5+00:00' WHERE position = 3",
        "UPDATE events SET occurred_at = '2025-01-01 00:00:00.000100+00:00' WHERE position = 4",
        "UPDATE events SET occurred_at = '2025-01-01T00:00:00.123456+00:00' WHERE position = 5",
        "UPDATE events SET occurred_at = '2025-01-01T00:00:00.000001Z' WHERE position = 6",
        "UPDATE events SET trace_id = 'another' WHERE position = 5",
        "UPDATE events SET metadata = CAST('{\"a\": 1}' AS BLOB) WHERE position = 6",
        "UPDATE events SET metadata = CAST('[]' AS BLOB) WHERE position = 7",
        # The converter structures a number given for a str; the slow path must be taken.
        "UPDATE events SET payload = CAST('{\"thread_id\": 5}' AS BLOB) WHERE position = 1",
        "UPDATE events SET metadata = CAST('null' AS BLOB) WHERE position = 8",
        'UPDATE events SET payload = CAST(\' { "thread_id" : "x" } \' AS BLOB)'
        " WHERE type = 'chat.thread.created'",
    ],
)
def test_unusual_but_valid_rows_export_the_same_bytes(chat_log: str, edit: str) -> None:
    sql(chat_log, edit)
    _both(chat_log)


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE events SET tenant = 't_unknown' WHERE position = 2",
        "UPDATE events SET tenant = 'T_acme' WHERE position = 2",
        "UPDATE events SET env = 'production' WHERE position = 2",
        "UPDATE events SET request_id = ' padded' WHERE position = 2",
        "UPDATE events SET trace_id = '' WHERE position = 2",
        "UPDATE events SET actor = 'a\t' WHERE position = 2",
        "UPDATE events SET stream = ' s' WHERE position = 2",
        "UPDATE events SET version = 0 WHERE position = 2",
        "UPDATE events SET event_id = X'00' WHERE position = 2",
        "UPDATE events SET occurred_at = '2025-01-01T00:00:00' WHERE position = 2",
        "UPDATE events SET occurred_at = 'yesterday' WHERE position = 2",
        "UPDATE events SET occurred_at = '2025-13-01T00:00:00.000000+00:00' WHERE position = 2",
        "UPDATE events SET occurred_at = '2025-01-01T00:00:00.00000\u0661+00:00'"
        " WHERE position = 2",
        "UPDATE events SET occurred_at = '2025-01-01T01:00:00.5+01:00' WHERE position = 2",
        "UPDATE events SET type = 'no.such.type' WHERE position = 2",
        "UPDATE events SET schema_version = 9 WHERE position = 2",
        "UPDATE events SET payload = CAST('{\"x\": 1}' AS BLOB) WHERE position = 2",
        "UPDATE events SET payload = CAST('not json' AS BLOB) WHERE position = 2",
        "UPDATE events SET metadata = CAST('{' AS BLOB) WHERE position = 2",
        "UPDATE events SET metadata = 5 WHERE position = 2",
        "UPDATE events SET payload = 5 WHERE position = 2",
        "UPDATE events SET version = 'two' WHERE position = 2",
        "UPDATE events SET event_id = 'abcdefghijklmnop' WHERE position = 2",
    ],
)
def test_rows_that_do_not_decode_are_refused_by_both(chat_log: str, edit: str) -> None:
    sql(chat_log, edit)
    for rows_path in (True, False):
        with pytest.raises(CodecError):
            asyncio.run(export_bytes(chat_log, Selection(), rows_path=rows_path))


def test_the_rows_of_a_pipeline_log_take_the_shortcut(chat_log: str) -> None:
    # Otherwise the comparisons above would compare the slow path with itself.
    checker = RowChecker(EventCodec())
    stored = rows(chat_log, f"SELECT {COLUMNS} FROM events")
    quick = [row for row in stored if checker.record(row) is not None]
    skipped = {row[4] for row in stored if checker.record(row) is None}
    assert skipped == {"temperature.config.changed"}
    assert len(quick) > len(stored) * 3 // 4
