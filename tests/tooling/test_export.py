"""chat-core export: JSON Lines of the envelope, in position order, deterministic, upcast."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

import orjson

from tests.tooling.conftest import Cli
from tests.tooling.logs import OLD_NOTES, rows

ENVELOPE = [
    "event_id",
    "type",
    "schema_version",
    "stream",
    "version",
    "position",
    "tenant",
    "env",
    "request_id",
    "trace_id",
    "actor",
    "occurred_at",
    "payload",
    "metadata",
]


def _lines(text: str | bytes) -> list[dict[str, object]]:
    raw = text.encode() if isinstance(text, str) else text
    return [orjson.loads(line) for line in raw.splitlines()]


def test_export_writes_every_envelope_field_in_position_order(cli: Cli, chat_log: str) -> None:
    status, out, err = cli("export", "--store", chat_log, "-o", "-")
    assert status == 0 and err == ""
    records = _lines(out)
    assert [list(record) for record in records] == [ENVELOPE] * len(records)
    assert [record["position"] for record in records] == list(range(1, len(records) + 1))
    assert len(records) == rows(chat_log, "SELECT COUNT(*) FROM events")[0][0]


def test_export_carries_the_stored_ids_and_idempotency_metadata(cli: Cli, chat_log: str) -> None:
    _, out, _ = cli("export", "--store", chat_log, "-o", "-")
    stored = rows(chat_log, "SELECT position, event_id, stream, version FROM events")
    exported = [(r["position"], r["event_id"], r["stream"], r["version"]) for r in _lines(out)]
    assert exported == [
        (position, str(_uuid(event_id)), stream, version)
        for position, event_id, stream, version in stored
    ]
    metadata = [r["metadata"] for r in _lines(out) if r["type"] == "chat.thread.created"]
    assert all("idempotency_scope" in item for item in metadata)  # type: ignore[operator]


def _uuid(raw: object) -> object:
    assert isinstance(raw, bytes)
    return uuid.UUID(bytes=raw)


def test_export_is_deterministic_and_gzipped_by_suffix(
    cli: Cli, chat_log: str, tmp_path: Path
) -> None:
    first, second, plain = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz", tmp_path / "c.jsonl"
    assert cli("export", "--store", chat_log, "-o", str(first))[0] == 0
    assert cli("export", "--store", chat_log, "-o", str(second))[0] == 0
    assert cli("export", "--store", chat_log, "-o", str(plain))[0] == 0
    assert first.read_bytes() == second.read_bytes()
    assert gzip.decompress(first.read_bytes()) == plain.read_bytes()


def test_export_upcasts_old_schema_events_to_the_current_one(cli: Cli, old_log: str) -> None:
    stored = rows(old_log, "SELECT schema_version, payload FROM events WHERE type LIKE 'tooling%'")
    assert {version for version, _ in stored} == {1}
    assert orjson.loads(stored[0][1]) == {"body": "note 1"}  # type: ignore[arg-type]
    _, out, _ = cli("export", "--store", old_log, "-o", "-", "--type", "tooling.note.taken")
    notes = _lines(out)
    assert len(notes) == OLD_NOTES
    assert {note["schema_version"] for note in notes} == {2}
    assert notes[0]["payload"] == {"text": "note 1", "priority": 0}


def test_export_applies_the_filters(cli: Cli, chat_log: str) -> None:
    _, out, _ = cli(
        "export",
        "--store",
        chat_log,
        "-o",
        "-",
        "--tenant",
        "t_acme",
        "--env",
        "prod",
        "--type",
        "chat.message.posted",
    )
    records = _lines(out)
    assert len(records) == 6
    assert {(r["tenant"], r["env"], r["type"]) for r in records} == {
        ("t_acme", "prod", "chat.message.posted")
    }
    _, out, _ = cli("export", "--store", chat_log, "-o", "-", "--after", "10", "--before", "15")
    assert [r["position"] for r in _lines(out)] == [11, 12, 13, 14]


def test_export_to_a_file_reports_the_count_and_keeps_stderr_quiet_when_piped(
    cli: Cli, chat_log: str, tmp_path: Path
) -> None:
    status, out, err = cli("export", "--store", chat_log, "-o", str(tmp_path / "x.jsonl"))
    assert status == 0
    assert out == f"exported 44 events to {tmp_path / 'x.jsonl'}\n"
    assert err == ""


def test_export_of_a_missing_log_fails_without_creating_it(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    status, _, err = cli("export", "--store", f"sqlite:///{missing}", "-o", "-")
    assert status == 2 and "no event log" in err
    assert not missing.exists()
