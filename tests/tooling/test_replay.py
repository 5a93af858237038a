"""chat-core replay: derived state rebuilt from the log, and --check against the live state."""

from __future__ import annotations

import asyncio

from chat_core.replay import replay_log
from events.codec import EventCodec
from events.store import open_store
from tests.tooling.conftest import Cli
from tests.tooling.logs import sql

SUMMARY = (
    "replayed 44 events: 8 threads, 24 messages, 4 temperature configs, 28 idempotency records\n"
)


def test_replay_rebuilds_threads_configs_and_idempotency_records(cli: Cli, chat_log: str) -> None:
    assert cli("replay", "--store", chat_log) == (0, SUMMARY, "")


def test_replay_check_finds_the_live_state_equal(cli: Cli, chat_log: str) -> None:
    assert cli("replay", "--check", "--store", chat_log) == (
        0,
        SUMMARY + "live state matches\n",
        "",
    )


def test_replay_folds_redactions_and_configs_like_the_live_path(chat_log: str) -> None:
    async def rebuild() -> None:
        store = await open_store(chat_log, codec=EventCodec())
        try:
            result = await replay_log(store)
        finally:
            await store.close()
        redacted = [m for t in result.threads.values() for m in t.recent if m.redacted]
        assert len(redacted) == 8 and all(m.seq == 1 for m in redacted)
        assert {t.default for t in result.temperatures.values()} == {0.7}

    asyncio.run(rebuild())


def test_replay_check_reports_a_changed_idempotency_body(cli: Cli, chat_log: str) -> None:
    sql(chat_log, "UPDATE idempotency SET body = CAST('{}' AS BLOB) WHERE status = 200")
    status, out, _ = cli("replay", "--check", "--store", chat_log)
    assert status == 1
    differences = [line for line in out.splitlines() if line.startswith("differs: ")]
    assert len(differences) == 4
    assert all(line.endswith(": body differ") for line in differences)
    assert out.endswith("4 differences\n")


def test_replay_check_reports_a_missing_idempotency_record(cli: Cli, chat_log: str) -> None:
    sql(chat_log, "DELETE FROM idempotency WHERE status = 201")
    status, out, _ = cli("replay", "--check", "--store", chat_log)
    assert status == 1
    assert out.count("missing from the store") == 24


def test_replay_check_reports_a_changed_fingerprint_and_status(cli: Cli, chat_log: str) -> None:
    sql(chat_log, "UPDATE idempotency SET fingerprint = 'other', status = 299 WHERE status = 200")
    _, out, _ = cli("replay", "--check", "--store", chat_log)
    assert out.count("fingerprint, status differ") == 4


def test_replay_of_an_undecodable_log_fails_plainly(cli: Cli, chat_log: str) -> None:
    sql(chat_log, "UPDATE events SET payload = 'garbage' WHERE position = 3")
    status, _, err = cli("replay", "--store", chat_log)
    assert status == 2
    assert err.startswith("chat-core replay: ") and "does not decode" in err
