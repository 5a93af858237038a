"""chat-core copy: ids, versions, positions and idempotency kept; an interrupted copy resumes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.tooling.conftest import Cli
from tests.tooling.logs import log_file, rows, sql, write_chat_log


def _export(cli: Cli, url: str) -> str:
    status, out, _ = cli("export", "--store", url, "-o", "-")
    assert status == 0
    return out


def test_copy_keeps_ids_versions_positions_and_payloads(
    cli: Cli, old_log: str, tmp_path: Path
) -> None:
    target = log_file(tmp_path, "copy.db")
    status, out, _ = cli("copy", old_log, target)
    assert (status, out) == (0, "copied 47 events after source position 0; positions kept\n")
    assert _export(cli, target) == _export(cli, old_log)
    assert cli("verify", "--store", target)[0] == 0


def test_copy_rebuilds_idempotency_records_so_the_copy_checks_clean(
    cli: Cli, chat_log: str, tmp_path: Path
) -> None:
    target = log_file(tmp_path, "copy.db")
    cli("copy", chat_log, target)
    status, out, _ = cli("replay", "--check", "--store", target)
    assert status == 0 and out.endswith("live state matches\n")
    assert sorted(rows(target, "SELECT key, fingerprint, status, body FROM idempotency")) == sorted(
        rows(chat_log, "SELECT key, fingerprint, status, body FROM idempotency")
    )


def test_copy_resumes_after_an_interruption(cli: Cli, chat_log: str, tmp_path: Path) -> None:
    target = log_file(tmp_path, "copy.db")
    cli("copy", chat_log, target)
    # As if the copy had stopped after position 20: the later transactions never committed,
    # neither their events nor the idempotency records stored with them.
    sql(
        target,
        "DELETE FROM idempotency WHERE key IN (SELECT json_extract(CAST(metadata AS TEXT),"
        " '$.idempotency_scope') FROM events WHERE position > 20)",
    )
    sql(target, "DELETE FROM events WHERE position > 20")
    status, out, _ = cli("copy", chat_log, target)
    assert (status, out) == (0, "copied 24 events after source position 20; positions kept\n")
    assert _export(cli, target) == _export(cli, chat_log)


def test_copy_again_takes_only_the_new_events(cli: Cli, chat_log: str, tmp_path: Path) -> None:
    target = log_file(tmp_path, "copy.db")
    cli("copy", chat_log, target)
    asyncio.run(write_chat_log(chat_log, threads_per_partition=1, messages=1))
    status, out, _ = cli("copy", chat_log, target)
    assert (status, out) == (0, "copied 16 events after source position 44; positions kept\n")
    assert _export(cli, target) == _export(cli, chat_log)


def test_copy_refuses_a_destination_that_is_not_a_prefix(
    cli: Cli, chat_log: str, tmp_path: Path
) -> None:
    other = log_file(tmp_path, "other.db")
    asyncio.run(write_chat_log(other, threads_per_partition=1))
    status, _, err = cli("copy", chat_log, other)
    assert status == 2 and "is not in the source" in err


def test_copy_from_a_missing_source_creates_nothing(cli: Cli, tmp_path: Path) -> None:
    status, _, err = cli("copy", log_file(tmp_path, "gone.db"), log_file(tmp_path, "new.db"))
    assert status == 2 and "no event log" in err
    assert not (tmp_path / "new.db").exists()
