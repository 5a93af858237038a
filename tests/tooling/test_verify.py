"""chat-core verify: every fault of a tampered log is listed, and a sound log passes."""

from __future__ import annotations

import pytest

from tests.tooling.conftest import Cli
from tests.tooling.logs import record_version_twice, rows, sql


def _faults(out: str) -> list[str]:
    return [line for line in out.splitlines() if not line.startswith("verified ")]


def test_verify_passes_a_log_written_by_the_pipeline(cli: Cli, chat_log: str) -> None:
    assert cli("verify", "--store", chat_log) == (0, "verified 44 events: no fault\n", "")


def test_verify_passes_an_old_schema_log_that_upcasts(cli: Cli, old_log: str) -> None:
    status, out, _ = cli("verify", "--store", old_log)
    assert (status, out) == (0, "verified 47 events: no fault\n")


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("UPDATE events SET tenant = 't_unknown' WHERE position = 7", "tenant"),
        ("UPDATE events SET tenant = 'ACME' WHERE position = 7", "tenant"),
        ("UPDATE events SET env = 'qa' WHERE position = 7", "env"),
        ("UPDATE events SET request_id = '' WHERE position = 7", "request_id"),
        ("UPDATE events SET payload = 'garbage' WHERE position = 7", "undecodable"),
        ("UPDATE events SET type = 'chat.nope' WHERE position = 7", "undecodable"),
        ("UPDATE events SET event_id = x'00' WHERE position = 7", "undecodable"),
    ],
)
def test_verify_reports_a_tampered_row(cli: Cli, chat_log: str, statement: str, kind: str) -> None:
    sql(chat_log, statement)
    status, out, _ = cli("verify", "--store", chat_log)
    assert status == 1
    assert [line.split(":")[0] for line in _faults(out)] == [kind]
    assert "position 7" in out
    assert out.endswith("verified 44 events: 1 fault\n")


def test_verify_reports_a_version_gap(cli: Cli, chat_log: str) -> None:
    sql(chat_log, "UPDATE events SET version = 9 WHERE position = 5")
    status, out, _ = cli("verify", "--store", chat_log)
    assert status == 1
    assert _faults(out) == [
        f"version_gap: version 9 follows version 4 (position 5, stream {_stream(chat_log, 5)})"
    ]


def test_verify_reports_a_stream_that_does_not_start_at_one(cli: Cli, chat_log: str) -> None:
    sql(chat_log, "DELETE FROM events WHERE position = 1")
    status, out, _ = cli("verify", "--store", chat_log)
    assert status == 1
    assert [line.split(":")[0] for line in _faults(out)] == ["version_gap"]
    assert "version 2 follows version 0 (position 2" in out


def test_verify_reports_positions_out_of_order_along_a_stream(cli: Cli, chat_log: str) -> None:
    sql(chat_log, "UPDATE events SET position = 1000 WHERE position = 2")
    status, out, _ = cli("verify", "--store", chat_log)
    assert status == 1
    assert [line.split(":")[0] for line in _faults(out)] == ["position_order"]
    assert "version 3 at position 3 precedes position 1000" in out


def test_verify_reports_a_duplicate_version(cli: Cli, chat_log: str) -> None:
    record_version_twice(chat_log)
    status, out, _ = cli("verify", "--store", chat_log)
    assert status == 1
    assert any(line.startswith("version_duplicate: version 3") for line in _faults(out))


def test_verify_lists_every_fault_of_a_log_tampered_many_ways(cli: Cli, chat_log: str) -> None:
    sql(chat_log, "UPDATE events SET tenant = 't_unknown', payload = 'x' WHERE position = 2")
    sql(chat_log, "UPDATE events SET env = 'test' WHERE position = 13")
    sql(chat_log, "UPDATE events SET version = 7 WHERE position = 21")
    sql(chat_log, "UPDATE events SET request_id = ' ' WHERE position = 30")
    status, out, _ = cli("verify", "--store", chat_log)
    assert status == 1
    kinds = sorted(line.split(":")[0] for line in _faults(out))
    assert kinds == ["env", "request_id", "tenant", "undecodable", "version_gap"]
    assert out.endswith("verified 44 events: 5 faults\n")


def _stream(url: str, position: int) -> str:
    return str(rows(url, "SELECT stream FROM events WHERE position = ?", (position,))[0][0])
