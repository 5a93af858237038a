"""chat-core stats: counts per tenant, env and type, with first and last times."""

from __future__ import annotations

from tests.tooling.conftest import Cli


def test_stats_counts_per_tenant_env_and_type(cli: Cli, chat_log: str) -> None:
    status, out, err = cli("stats", "--store", chat_log)
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["tenant", "env", "type", "events", "first", "last"]
    table = {tuple(line.split()[:4]) for line in lines[1:17]}
    assert ("t_acme", "dev", "chat.message.posted", "6") in table
    assert ("t_globex", "prod", "temperature.config.changed", "1") in table
    assert lines[17].split() == ["total", "44"]
    assert lines[18] == "per tenant: t_acme 22, t_globex 22"
    assert lines[19] == "per env: dev 22, prod 22"
    assert lines[20] == (
        "per type: chat.message.posted 24, chat.message.redacted 8, chat.thread.created 8, "
        "temperature.config.changed 4"
    )


def test_stats_applies_filters_and_shows_first_and_last_time(cli: Cli, old_log: str) -> None:
    _, out, _ = cli("stats", "--store", old_log, "--type", "tooling.note.taken")
    assert out.splitlines()[1].split() == [
        "t_acme",
        "dev",
        "tooling.note.taken",
        "3",
        "2024-01-01T00:01:00Z",
        "2024-01-01T00:03:00Z",
    ]
    _, out, _ = cli(
        "stats",
        "--store",
        old_log,
        "--since",
        "2024-01-01T00:02:00Z",
        "--until",
        "2024-01-01T00:03:00+00:00",
    )
    assert out.splitlines()[1].split()[:4] == ["t_acme", "dev", "tooling.note.taken", "1"]


def test_stats_refuses_a_time_without_an_offset(cli: Cli, chat_log: str) -> None:
    try:
        cli("stats", "--store", chat_log, "--since", "2024-01-01T00:00:00")
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("a naive time was accepted")
