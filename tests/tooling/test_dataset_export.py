"""export --format chat: a line per conversation path, nothing withdrawn, the same bytes."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from chat_core.bootstrap import bootstrap
from chat_core.dataset_export import Lines, ThreadSelection, export_threads, store_threads
from chat_core.dataset_lines import chat_lines
from chat_core.dataset_parallel import export_threads_parallel, thread_chunks
from chat_core.export_view import ChatExportView, ChatViewOpener, redacted_messages
from chat_core.settings import Settings
from events.codec import EventCodec
from events.store import open_store
from events.tooling.parallel import ParallelLog
from tests.tooling.conftest import Cli
from tests.tooling.dataset_logs import WITHDRAWN_WORDS, write_branched_log
from tests.tooling.logs import db_path, log_file, open_core, sql
from transports.cli.keys_cli import configured_master_key


def _meta(tenant: str, env: str, thread: str, leaf: str, model: Any, temperature: Any) -> Any:
    return {
        "tenant": tenant,
        "env": env,
        "thread_id": thread,
        "leaf_id": leaf,
        "model": model,
        "temperature": temperature,
    }


def expected_lines(ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Return the chat line of each path a dataset keeps, by the name of its leaf."""
    system = {"role": "system", "content": "You are terse."}
    question = {"role": "user", "content": "What is 2+2?"}
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
    }
    return {
        "a3": {
            "messages": [
                system,
                question,
                {"role": "assistant", "content": "4"},
                {"role": "user", "content": "And 3+3?"},
                {"role": "assistant", "content": "6 it is"},
            ],
            "metadata": _meta("t_acme", "dev", ids["th1"], ids["a3"], "gpt-x", 0.5),
        },
        # The erased question under a2 is left out; the answer to it stays.
        "a6": {
            "messages": [
                system,
                question,
                {"role": "assistant", "content": "four"},
                {"role": "assistant", "content": "noted"},
            ],
            "metadata": _meta("t_acme", "dev", ids["th1"], ids["a6"], "gpt-x", 0.5),
        },
        "w4": {
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "content": "18C", "tool_call_id": "call_1"},
                {"role": "assistant", "content": "It is 18C."},
            ],
            "metadata": _meta("t_acme", "prod", ids["th2"], ids["w4"], "gpt-x", 1.0),
        },
        # The redacted message between them is left out.
        "g3": {
            "messages": [
                {"role": "user", "content": "hello globex"},
                {"role": "assistant", "content": "Noted."},
            ],
            "metadata": _meta("t_globex", "dev", ids["th3"], ids["g3"], None, None),
        },
    }


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    """Return lines as the export writes them."""
    return b"".join(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE) for line in lines)


@pytest.fixture(scope="module")
def branched(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """Return the URL of a SQLite log of branched threads and the ids in it."""
    url = log_file(tmp_path_factory.mktemp("dataset"))

    async def write() -> dict[str, str]:
        core = await open_core(url)
        try:
            return await write_branched_log(core)
        finally:
            await core.close()

    return url, asyncio.run(write())


def _export(cli: Cli, url: str, target: Path, *flags: str) -> bytes:
    status, out, err = cli("export", "--store", url, "--format", "chat", "-o", str(target), *flags)
    assert status == 0, out + err
    return target.read_bytes()


def test_a_line_per_path_to_a_leaf_without_what_was_withdrawn(
    branched: tuple[str, dict[str, str]], cli: Cli, tmp_path: Path
) -> None:
    url, ids = branched
    want = expected_lines(ids)
    exported = _export(cli, url, tmp_path / "chat.jsonl")
    assert exported == jsonl([want["a3"], want["a6"], want["w4"], want["g3"]])


def test_two_exports_of_one_log_are_the_same_bytes(
    branched: tuple[str, dict[str, str]], cli: Cli, tmp_path: Path
) -> None:
    url, _ = branched
    first = _export(cli, url, tmp_path / "one.jsonl.gz")
    assert first == _export(cli, url, tmp_path / "two.jsonl.gz")


def test_no_withdrawn_word_reaches_the_dataset(
    branched: tuple[str, dict[str, str]], cli: Cli, tmp_path: Path
) -> None:
    url, _ = branched
    exported = _export(cli, url, tmp_path / "chat.jsonl")
    cancelled = _export(cli, url, tmp_path / "heads.jsonl", "--paths", "heads")
    for words in (*WITHDRAWN_WORDS, "cancelled", "half", "still going"):
        assert words.encode() not in exported + cancelled
        assert words.lower().encode() not in (exported + cancelled).lower()


def test_heads_gives_the_path_to_each_thread_s_head(
    branched: tuple[str, dict[str, str]], cli: Cli, tmp_path: Path
) -> None:
    url, ids = branched
    want = expected_lines(ids)
    exported = _export(cli, url, tmp_path / "heads.jsonl", "--paths", "heads")
    assert exported == jsonl([want["a6"], want["w4"], want["g3"]])


@pytest.mark.parametrize(
    ("flags", "leaves"),
    [
        (("--tenant", "t_globex"), ["g3"]),
        (("--env", "prod"), ["w4"]),
        (("--tenant", "t_acme", "--env", "dev"), ["a3", "a6"]),
        (("--stream", "chat/t_globex/dev/{th3}"), ["g3"]),
        (("--after", "{after_one}"), ["w4", "g3"]),
        (("--before", "{after_one}"), ["a3", "a6"]),
        (("--since", "2999-01-01T00:00:00Z"), []),
    ],
)
def test_the_filters_pick_threads_and_leaves(
    branched: tuple[str, dict[str, str]],
    cli: Cli,
    tmp_path: Path,
    flags: tuple[str, ...],
    leaves: list[str],
) -> None:
    url, ids = branched
    want = expected_lines(ids)
    argv = [flag.format(**ids) for flag in flags]
    exported = _export(cli, url, tmp_path / "some.jsonl", *argv)
    assert exported == jsonl([want[leaf] for leaf in leaves])


def test_a_type_filter_is_refused(branched: tuple[str, dict[str, str]], cli: Cli) -> None:
    url, _ = branched
    status, _, err = cli("export", "--store", url, "--format", "chat", "--type", "x", "-o", "-")
    assert status == 2
    assert "--type" in err


def test_the_store_path_gives_the_rows_path_s_bytes(
    branched: tuple[str, dict[str, str]], cli: Cli, tmp_path: Path
) -> None:
    url, _ = branched
    exported = _export(cli, url, tmp_path / "chat.jsonl")

    async def through_the_store() -> bytes:
        core = await open_core(url)
        try:
            return await _store_export(core)
        finally:
            await core.close()

    assert asyncio.run(through_the_store()) == exported


async def _store_export(core: Any, lines: Lines = chat_lines) -> bytes:
    redacted = await redacted_messages(core.store)
    view = ChatExportView(keys=core.keys, redacted=redacted, converter=core.codec.converter)
    sink = bytearray()

    class Sink:
        def write(self, data: bytes | bytearray, /) -> int:
            sink.extend(data)
            return len(data)

    threads = store_threads(core.store, view, ThreadSelection())
    await export_threads(threads, Sink(), lines)
    return bytes(sink)


async def test_a_memory_log_gives_the_same_lines() -> None:
    core = await bootstrap(settings=Settings(hs256_secret=b"x" * 32, store_url="memory://"))
    try:
        ids = await write_branched_log(core)
        exported = await _store_export(core)
    finally:
        await core.close()
    want = expected_lines(ids)
    assert exported == jsonl([want["a3"], want["a6"], want["w4"], want["g3"]])


def test_worker_processes_write_the_sequential_bytes(
    branched: tuple[str, dict[str, str]], cli: Cli, tmp_path: Path
) -> None:
    url, _ = branched
    sequential = _export(cli, url, tmp_path / "one.jsonl", "--jobs", "1")

    async def in_parallel() -> tuple[bytes, int]:
        store = await open_store(url, codec=EventCodec())
        try:
            redacted = frozenset(await redacted_messages(store))
        finally:
            await store.close()
        opener = ChatViewOpener(
            key_store_url=url, master_secret=configured_master_key(url).secret, redacted=redacted
        )
        # A few positions a chunk: the threads are cut into several pieces, whole threads each.
        log = ParallelLog(path=db_path(url), jobs=2, chunk=5)
        assert len(thread_chunks(log, ThreadSelection())) > 2
        sink = io.BytesIO()
        lines = await export_threads_parallel(
            log, ThreadSelection(), chat_lines, sink, opener=opener, scratch=str(tmp_path)
        )
        return sink.getvalue(), lines

    exported, lines = asyncio.run(in_parallel())
    assert exported == sequential
    assert lines == 4


def _old_rows(url: str) -> None:
    """Append a thread as code before sealing and parents wrote it: schema 1, words in clear."""
    stream = "chat/t_acme/dev/th_old"
    payloads = [
        ("chat.thread.created", {"thread_id": "th_old", "title": "old", "metadata": {}}),
        *(
            (
                "chat.message.posted",
                {
                    "thread_id": "th_old",
                    "message_id": f"msg_old{seq}",
                    "seq": seq,
                    "role": role,
                    "content": content,
                    "metadata": {},
                },
            )
            for seq, role, content in (
                (1, "user", "an old question"),
                (2, "assistant", "an old answer"),
                (3, "user", "thanks"),
            )
        ),
    ]
    for version, (event_type, payload) in enumerate(payloads, start=1):
        sql(
            url,
            "INSERT INTO events (event_id, stream, version, type, schema_version, tenant, env,"
            " request_id, trace_id, actor, occurred_at, payload) VALUES"
            " (randomblob(16), ?, ?, ?, 1, 't_acme', 'dev', ?, ?, 'u_old', ?, ?)",
            (
                stream,
                version,
                event_type,
                f"old-{version}",
                f"old-{version}",
                f"2024-01-01T00:00:0{version}.000000+00:00",
                orjson.dumps(payload),
            ),
        )


def test_an_old_log_reads_each_message_as_the_reply_to_the_one_before(
    cli: Cli, tmp_path: Path
) -> None:
    url = log_file(tmp_path)

    async def create() -> None:
        # The schema and the key store, as a server of today leaves them.
        await (await open_core(url)).close()

    asyncio.run(create())
    _old_rows(url)
    exported = _export(cli, url, tmp_path / "old.jsonl")
    line = {
        "messages": [
            {"role": "user", "content": "an old question"},
            {"role": "assistant", "content": "an old answer"},
            {"role": "user", "content": "thanks"},
        ],
        "metadata": _meta("t_acme", "dev", "th_old", "msg_old3", None, None),
    }
    assert exported == jsonl([line])
    status, out, err = cli("erase", "--store", url, "--tenant", "t_acme", "--subject", "u_old")
    assert status == 0, out + err
    erased = _export(cli, url, tmp_path / "erased.jsonl")
    assert erased == b""


@pytest.mark.parametrize("flags", [("--paths", "heads"), ("--min-rating", "1")])
def test_the_chat_flags_are_refused_with_another_format(
    branched: tuple[str, dict[str, str]], cli: Cli, flags: tuple[str, ...]
) -> None:
    url, _ = branched
    status, out, err = cli("export", "--store", url, "-o", "-", *flags)
    assert (status, out) == (2, "")
    assert flags[0] in err
