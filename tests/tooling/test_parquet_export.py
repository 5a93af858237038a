"""chat-core export --format parquet: a row per event, typed envelope columns, same bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from tests.tooling.conftest import Cli

COLUMNS = {
    "position": pa.int64(),
    "event_id": pa.string(),
    "type": pa.string(),
    "schema_version": pa.int32(),
    "stream": pa.string(),
    "version": pa.int64(),
    "tenant": pa.string(),
    "env": pa.string(),
    "request_id": pa.string(),
    "trace_id": pa.string(),
    "actor": pa.string(),
    "occurred_at": pa.timestamp("us", tz="UTC"),
    "payload": pa.string(),
    "metadata": pa.string(),
}


def _export(cli: Cli, store: str, target: Path, *filters: str) -> list[dict[str, object]]:
    status, out, err = cli(
        "export", "--store", store, "--format", "parquet", "-o", str(target), *filters
    )
    assert status == 0, err
    assert "exported" in out
    return list(pq.read_table(target).to_pylist())


def _jsonl(cli: Cli, store: str, *filters: str) -> list[dict[str, object]]:
    status, out, _ = cli("export", "--store", store, "-o", "-", *filters)
    assert status == 0
    return [orjson.loads(line) for line in out.splitlines()]


def test_the_envelope_is_typed_columns(cli: Cli, chat_log: str, tmp_path: Path) -> None:
    target = tmp_path / "log.parquet"
    _export(cli, chat_log, target)
    schema = pq.read_schema(target)
    assert {field.name: field.type for field in schema} == COLUMNS
    assert list(schema.names) == list(COLUMNS)


def test_each_row_is_the_event_the_json_lines_export_shows(
    cli: Cli, chat_log: str, tmp_path: Path
) -> None:
    table = _export(cli, chat_log, tmp_path / "log.parquet")
    lines = _jsonl(cli, chat_log)
    assert len(table) == len(lines) > 0
    for row, line in zip(table, lines, strict=True):
        occurred = row["occurred_at"]
        assert isinstance(occurred, datetime) and occurred.tzinfo is not None
        assert occurred == datetime.fromisoformat(str(line["occurred_at"])).astimezone(UTC)
        assert orjson.loads(str(row["payload"])) == line["payload"]
        assert orjson.loads(str(row["metadata"])) == line["metadata"]
        for name in (
            "position",
            "event_id",
            "type",
            "schema_version",
            "stream",
            "version",
            "tenant",
            "env",
            "request_id",
            "trace_id",
            "actor",
        ):
            assert row[name] == line[name], name


def test_the_same_log_gives_the_same_bytes(cli: Cli, chat_log: str, tmp_path: Path) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    _export(cli, chat_log, first)
    _export(cli, chat_log, second)
    assert first.read_bytes() == second.read_bytes()


def test_the_filters_apply(cli: Cli, chat_log: str, tmp_path: Path) -> None:
    filters = ("--tenant", "t_acme", "--env", "prod", "--type", "chat.message.posted")
    table = _export(cli, chat_log, tmp_path / "posts.parquet", *filters)
    assert [row["position"] for row in table] == [
        r["position"] for r in _jsonl(cli, chat_log, *filters)
    ]
    assert {(row["tenant"], row["env"], row["type"]) for row in table} == {
        ("t_acme", "prod", "chat.message.posted")
    }


def test_parquet_to_standard_output_is_refused(cli: Cli, chat_log: str) -> None:
    status, _, err = cli("export", "--store", chat_log, "--format", "parquet", "-o", "-")
    assert status == 2
    assert "FILE.parquet" in err


def test_an_unknown_format_is_refused(cli: Cli, chat_log: str, tmp_path: Path) -> None:
    try:
        status = cli("export", "--store", chat_log, "--format", "csv", "-o", "x")[0]
    except SystemExit as exc:
        status = int(exc.code or 0)
    assert status == 2
