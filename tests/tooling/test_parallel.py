"""Export and verify with worker processes give the sequential bytes and faults, chunk by chunk."""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from chat_core.export_view import ChatViewOpener, redacted_messages
from events.codec import CodecError, EventCodec
from events.store import open_store
from events.store.base import EventFilter
from events.store.raw import SQLiteRawLog
from events.tooling import LogVerifier, Selection
from events.tooling.parallel import ParallelLog, ParallelVerifier, WorkerFailed
from events.tooling.parallel_export import export_parallel
from tests.tooling.conftest import Cli
from tests.tooling.logs import db_path, export_bytes, record_version_twice, rows, sql
from transports.cli.keys_cli import configured_master_key

# A handful of positions a chunk, so even these small logs are cut into many chunks.
CHUNK = 3
SPARSE_HEAD = 250_000


async def _parallel(url: str, selection: Selection) -> bytes:
    codec = EventCodec()
    store = await open_store(url, codec=codec)
    try:
        opener = ChatViewOpener(
            key_store_url=url,
            master_secret=configured_master_key(url).secret,
            redacted=frozenset(await redacted_messages(store)),
        )
    finally:
        await store.close()
    log = ParallelLog(path=db_path(url), jobs=2, chunk=CHUNK)
    out = io.BytesIO()
    await export_parallel(log, selection, out, view=opener)
    return out.getvalue()


SELECTIONS = {
    "all": Selection(),
    "tenant": Selection(event_filter=EventFilter(tenants=["t_globex"])),
    "type": Selection(event_filter=EventFilter(types=["chat.message.posted"])),
    "window": Selection(after=4, before=31),
    "window and type": Selection(
        after=7, before=40, event_filter=EventFilter(types=["chat.message.redacted"])
    ),
}


@pytest.mark.parametrize("name", SELECTIONS)
def test_parallel_export_writes_the_sequential_bytes(old_log: str, name: str) -> None:
    selection = SELECTIONS[name]
    sequential = asyncio.run(export_bytes(old_log, selection))
    assert sequential
    assert asyncio.run(_parallel(old_log, selection)) == sequential


def test_parallel_export_shows_erased_and_redacted_messages_as_sequential_does(
    cli: Cli, chat_log: str
) -> None:
    status, _, _ = cli(
        "erase", "--store", chat_log, "--tenant", "t_acme", "--subject", "u_ada", "--env", "dev"
    )
    assert status == 0
    sequential = asyncio.run(export_bytes(chat_log, Selection()))
    assert b'"erased":true' in sequential
    assert b'"redacted":true' in sequential
    assert asyncio.run(_parallel(chat_log, Selection())) == sequential


async def _faults_both_ways(url: str) -> tuple[list[str], list[str], int]:
    codec = EventCodec()
    raw = SQLiteRawLog(db_path(url))
    sequential = LogVerifier(raw, codec)
    try:
        expected = [str(fault) async for fault in sequential.faults()]
    finally:
        await raw.close()
    parallel = ParallelVerifier(ParallelLog(path=db_path(url), jobs=2, chunk=CHUNK))
    found = [str(fault) async for fault in parallel.faults()]
    assert parallel.checked == sequential.checked
    return expected, found, sequential.checked


def _swap_versions(url: str, first: int, second: int) -> None:
    (one,), (other,) = (
        rows(url, "SELECT version FROM events WHERE position = ?", (position,))[0]
        for position in (first, second)
    )
    sql(url, "UPDATE events SET version = -1 WHERE position = ?", (first,))
    sql(url, "UPDATE events SET version = ? WHERE position = ?", (one, second))
    sql(url, "UPDATE events SET version = ? WHERE position = ?", (other, first))


TAMPERINGS = {
    "sound": [],
    "version gap at a chunk boundary": ["UPDATE events SET version = 9 WHERE position = 6"],
    "stream not starting at one": ["DELETE FROM events WHERE position = 1"],
    "undecodable row": ["UPDATE events SET payload = 'garbage' WHERE position = 7"],
    "bad tenant": ["UPDATE events SET tenant = 'ACME' WHERE position = 9"],
    "many ways": [
        "UPDATE events SET tenant = 't_unknown', payload = 'x' WHERE position = 2",
        "UPDATE events SET env = 'test' WHERE position = 13",
        "UPDATE events SET version = 7 WHERE position = 21",
        "UPDATE events SET request_id = ' ' WHERE position = 30",
    ],
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_parallel_verify_finds_the_sequential_faults(old_log: str, name: str) -> None:
    for statement in TAMPERINGS[name]:
        sql(old_log, statement)
    expected, found, checked = asyncio.run(_faults_both_ways(old_log))
    assert found == expected
    assert bool(found) == bool(TAMPERINGS[name])
    assert checked == 47 - ("DELETE" in " ".join(TAMPERINGS[name]))


def test_parallel_verify_finds_positions_out_of_order_along_a_stream(chat_log: str) -> None:
    stream = rows(chat_log, "SELECT stream FROM events WHERE position = 2")[0][0]
    positions = [
        p for (p,) in rows(chat_log, "SELECT position FROM events WHERE stream = ?", (stream,))
    ]
    _swap_versions(chat_log, positions[1], positions[-1])
    expected, found, _ = asyncio.run(_faults_both_ways(chat_log))
    assert found == expected
    assert any(fault.startswith("position_order") for fault in found)


def test_parallel_verify_finds_a_version_recorded_twice_in_far_chunks(chat_log: str) -> None:
    record_version_twice(chat_log)
    expected, found, _ = asyncio.run(_faults_both_ways(chat_log))
    assert found == expected
    assert any(fault.startswith("version_duplicate: version 3") for fault in found)


def _children() -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        found += [int(pid) for pid in (task / "children").read_text().split()]
    return found


def test_a_killed_worker_fails_the_export_promptly(chat_log: str, temp_root: Path) -> None:
    killed: list[int] = []

    def kill_a_worker(_count: int) -> None:
        if not killed:
            killed.append(_children()[0])
            os.kill(killed[0], signal.SIGKILL)

    async def export() -> None:
        log = ParallelLog(path=db_path(chat_log), jobs=2, chunk=1)
        await export_parallel(log, Selection(), io.BytesIO(), progress=kill_a_worker)

    # Waiting for the dead worker would hang: the bound turns that into a TimeoutError.
    with pytest.raises(WorkerFailed, match=r"stopped \(exit status -9\)"):
        asyncio.run(asyncio.wait_for(export(), 60))
    assert _children() == []
    assert list(temp_root.iterdir()) == []


def test_a_row_a_worker_cannot_export_fails_as_the_sequential_export_does(chat_log: str) -> None:
    sql(chat_log, "UPDATE events SET payload = 'garbage' WHERE position = 20")
    with pytest.raises(CodecError):
        asyncio.run(export_bytes(chat_log, Selection()))
    with pytest.raises(CodecError):
        asyncio.run(_parallel(chat_log, Selection()))


def _sparse(url: str) -> None:
    """Move the last event far ahead: a span worth the workers, from a small log."""
    sql(url, "UPDATE events SET position = ? WHERE position = 44", (SPARSE_HEAD,))


def test_cli_export_and_verify_with_jobs_match_one_job(
    cli: Cli, chat_log: str, tmp_path: Path
) -> None:
    _sparse(chat_log)
    outputs = {}
    for jobs in ("1", "2"):
        target = tmp_path / f"jobs{jobs}.jsonl"
        status, out, _ = cli("export", "--store", chat_log, "--jobs", jobs, "-o", str(target))
        assert (status, out) == (0, f"exported 44 events to {target}\n")
        outputs[jobs] = target.read_bytes()
        assert cli("verify", "--store", chat_log, "--jobs", jobs) == (
            0,
            "verified 44 events: no fault\n",
            "",
        )
    assert outputs["1"] == outputs["2"]
    assert b'"position":250000' in outputs["2"]


def test_cli_gzip_export_is_the_same_file_whatever_the_jobs(
    cli: Cli, old_log: str, tmp_path: Path
) -> None:
    _sparse(old_log)
    zipped = {}
    for jobs in ("1", "2"):
        target = tmp_path / f"jobs{jobs}.jsonl.gz"
        status, _, _ = cli("export", "--store", old_log, "--jobs", jobs, "-o", str(target))
        assert status == 0
        zipped[jobs] = target.read_bytes()
    plain = tmp_path / "plain.jsonl"
    assert cli("export", "--store", old_log, "--jobs", "1", "-o", str(plain))[0] == 0
    assert zipped["1"] == zipped["2"]
    assert gzip.decompress(zipped["2"]) == plain.read_bytes()
    assert b'"position":250000' in plain.read_bytes()


def test_cli_export_with_jobs_fails_clearly_on_a_row_it_cannot_export(
    cli: Cli, chat_log: str, tmp_path: Path
) -> None:
    _sparse(chat_log)
    sql(chat_log, "UPDATE events SET payload = 'garbage' WHERE position = 20")
    status, _, err = cli("export", "--store", chat_log, "-o", str(tmp_path / "out.jsonl"))
    assert status == 2
    assert err.startswith("chat-core export: ")


# Chunk files: written by the workers, appended by the parent, never left behind.


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return the directory tempfile.gettempdir() gives during the test, empty."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


async def _opener(url: str) -> ChatViewOpener:
    codec = EventCodec()
    store = await open_store(url, codec=codec)
    try:
        return ChatViewOpener(
            key_store_url=url,
            master_secret=configured_master_key(url).secret,
            redacted=frozenset(await redacted_messages(store)),
        )
    finally:
        await store.close()


def test_a_file_export_lands_after_what_the_sink_buffered_and_leaves_no_chunk_file(
    old_log: str, tmp_path: Path
) -> None:
    sequential = asyncio.run(export_bytes(old_log, Selection()))
    opener = asyncio.run(_opener(old_log))
    outdir = tmp_path / "out"
    outdir.mkdir()
    target = outdir / "export.jsonl"
    seen: list[list[str]] = []

    def look(_count: int) -> None:
        seen.append(sorted(entry.name for entry in outdir.iterdir()))

    async def export() -> int:
        with target.open("wb") as out:
            out.write(b"before\n")  # still in the writer's buffer when the chunks come
            count = await export_parallel(
                ParallelLog(path=db_path(old_log), jobs=2, chunk=CHUNK),
                Selection(),
                out,
                progress=look,
                view=opener,
                scratch=str(outdir),
            )
            out.write(b"after\n")
            return count

    assert asyncio.run(export()) == 47
    assert target.read_bytes() == b"before\n" + sequential + b"after\n"
    # The chunk files lay next to the output, in a directory of their own, now gone.
    assert all(len(names) == 2 and names[0].startswith(".chat-core-export-") for names in seen)
    assert [entry.name for entry in outdir.iterdir()] == ["export.jsonl"]


def _dead_pid() -> int:
    """Return the id of a process that has just exited."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return int(done.stdout)


@pytest.mark.parametrize("beside_output", [True, False])
def test_chunks_an_earlier_killed_export_left_are_removed(
    old_log: str, tmp_path: Path, temp_root: Path, beside_output: bool
) -> None:
    # A SIGKILLed export cannot clean up; its chunks hold decrypted messages. The next
    # export in the same place removes the directories of processes that are gone.
    outdir = tmp_path / "out"
    outdir.mkdir()
    where, dot = (outdir, ".") if beside_output else (temp_root, "")
    orphan = where / f"{dot}chat-core-export-{_dead_pid()}-x1y2z3"
    orphan.mkdir()
    (orphan / "0").write_bytes(b'{"content": "opened words"}\n')
    running = where / f"{dot}chat-core-export-{os.getpid()}-live"
    running.mkdir()
    unrelated = where / f"{dot}chat-core-export-notes"
    unrelated.mkdir()
    opener = asyncio.run(_opener(old_log))

    async def export() -> int:
        with (tmp_path / "export.jsonl").open("wb") as out:
            return await export_parallel(
                ParallelLog(path=db_path(old_log), jobs=2, chunk=CHUNK),
                Selection(),
                out,
                view=opener,
                scratch=str(outdir) if beside_output else None,
            )

    assert asyncio.run(export()) == 47
    assert not orphan.exists()
    assert running.is_dir() and unrelated.is_dir()


def test_an_export_into_a_pipe_leaves_no_chunk_file(old_log: str, temp_root: Path) -> None:
    sequential = asyncio.run(export_bytes(old_log, Selection()))
    opener = asyncio.run(_opener(old_log))
    read_end, write_end = os.pipe()
    received = bytearray()

    def drain() -> None:
        with open(read_end, "rb") as source:
            while block := source.read(4096):
                received.extend(block)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        with open(write_end, "wb") as out:
            log = ParallelLog(path=db_path(old_log), jobs=2, chunk=CHUNK)
            asyncio.run(export_parallel(log, Selection(), out, view=opener))
    finally:
        reader.join(30)
    assert bytes(received) == sequential
    assert list(temp_root.iterdir()) == []


def test_cli_export_with_jobs_to_stdout_piped_gives_the_one_job_bytes(
    chat_log: str, tmp_path: Path
) -> None:
    _sparse(chat_log)
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    outputs = {}
    for jobs in ("1", "2"):
        command = [sys.executable, "-m", "transports.cli.main", "export", "--store", chat_log]
        done = subprocess.run(
            [*command, "--jobs", jobs, "-o", "-"],
            capture_output=True,
            check=True,
            env={**os.environ, "TMPDIR": str(temp_root)},
            timeout=120,
        )
        outputs[jobs] = done.stdout
    assert outputs["1"] == outputs["2"]
    assert b'"position":250000' in outputs["2"]
    assert list(temp_root.iterdir()) == []


def test_a_gzip_stream_sink_gets_the_lines_to_compress(
    old_log: str, tmp_path: Path, temp_root: Path
) -> None:
    sequential = asyncio.run(export_bytes(old_log, Selection()))
    opener = asyncio.run(_opener(old_log))
    log = ParallelLog(path=db_path(old_log), jobs=2, chunk=CHUNK)
    zipped = tmp_path / "export.jsonl.gz"
    with zipped.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        asyncio.run(export_parallel(log, Selection(), out, view=opener))
    assert gzip.decompress(zipped.read_bytes()) == sequential
    assert list(temp_root.iterdir()) == []


def test_no_chunk_file_is_left_after_a_worker_fails_or_the_export_is_cancelled(
    chat_log: str, temp_root: Path
) -> None:
    log = ParallelLog(path=db_path(chat_log), jobs=2, chunk=1)
    seen: list[int] = []

    def cancel(_count: int) -> None:
        seen.append(len(list(temp_root.iterdir())))
        task = asyncio.current_task()
        assert task is not None
        task.cancel()  # as Ctrl-C does under asyncio.run

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(export_parallel(log, Selection(), io.BytesIO(), progress=cancel))
    assert seen == [1]
    assert list(temp_root.iterdir()) == []
    assert _children() == []

    sql(chat_log, "UPDATE events SET payload = 'garbage' WHERE position = 20")
    with pytest.raises(CodecError):
        asyncio.run(export_parallel(log, Selection(), io.BytesIO()))
    assert list(temp_root.iterdir()) == []
    assert _children() == []
