"""chat-core copy from SQLite to PostgreSQL and back: ids, versions, order and records kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pg import postgres_url
from tests.tooling.conftest import Cli
from tests.tooling.logs import log_file, rows

__all__ = ["postgres_url"]

pytestmark = pytest.mark.postgres


def _export(cli: Cli, url: str) -> str:
    status, out, _ = cli("export", "--store", url, "-o", "-")
    assert status == 0
    return out


def test_copy_to_postgres_and_back_keeps_the_log(
    cli: Cli, old_log: str, postgres_url: str, tmp_path: Path
) -> None:
    status, out, _ = cli("copy", old_log, postgres_url)
    assert (status, out) == (0, "copied 47 events after source position 0; positions kept\n")
    back = log_file(tmp_path, "back.db")
    status, out, _ = cli("copy", postgres_url, back)
    assert (status, out) == (0, "copied 47 events after source position 0; positions kept\n")
    original = _export(cli, old_log)
    assert _export(cli, postgres_url) == original
    assert _export(cli, back) == original
    assert cli("verify", "--store", postgres_url)[0] == 0
    idempotency = "SELECT key, fingerprint, status, body FROM idempotency"
    assert sorted(rows(back, idempotency)) == sorted(rows(old_log, idempotency))


def test_replay_check_passes_on_the_postgres_copy(
    cli: Cli, chat_log: str, postgres_url: str
) -> None:
    cli("copy", chat_log, postgres_url)
    status, out, _ = cli("replay", "--check", "--store", postgres_url)
    assert status == 0 and out.endswith("live state matches\n")


def test_copy_into_postgres_resumes_from_its_head(
    cli: Cli, chat_log: str, postgres_url: str
) -> None:
    cli("copy", chat_log, postgres_url)
    status, out, _ = cli("copy", chat_log, postgres_url)
    assert (status, out) == (0, "copied 0 events after source position 44; positions kept\n")
