"""chat-core replay: derived state rebuilt from the log, and --check against the live state."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from chat_core import replay
from chat_core.commands import PostMessage
from chat_core.context import RequestContext
from chat_core.replay import ReplayResult, State, replay_log
from chat_core.state import TemperatureState, ThreadState
from events.codec import EventCodec
from events.envelope import Env
from events.store import open_store
from tests.tooling.conftest import Cli
from tests.tooling.logs import AUTH, open_core, sql

SUMMARY = (
    "replayed 44 events: 8 threads, 24 messages, 4 temperature configs, 28 idempotency records,"
    " 16 messages in the search index\n"
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
    threads: list[ThreadState] = []
    temperatures: list[TemperatureState] = []

    def keep(_stream: str, state: State) -> None:
        if isinstance(state, ThreadState):
            threads.append(state)
        else:
            temperatures.append(state)

    async def rebuild() -> None:
        store = await open_store(chat_log, codec=EventCodec())
        try:
            await replay_log(store, on_state=keep)
        finally:
            await store.close()

    asyncio.run(rebuild())
    redacted = [m for t in threads for m in t.recent if m.redacted]
    assert len(redacted) == 8 and all(m.seq == 1 for m in redacted)
    assert {t.default for t in temperatures} == {0.7}


def test_replay_hands_on_each_state_once_in_stream_order_and_keeps_none(chat_log: str) -> None:
    seen: list[str] = []
    handed: list[weakref.ref[State]] = []

    def on_state(stream: str, state: State) -> None:
        gc.collect()
        # Every state handed on before this one is gone: replay held one stream at a time.
        assert [ref() for ref in handed] == [None] * len(handed)
        seen.append(stream)
        handed.append(weakref.ref(state))

    async def rebuild() -> tuple[ReplayResult, list[str]]:
        store = await open_store(chat_log, codec=EventCodec())
        try:
            result = await replay_log(store, check=True, on_state=on_state)
            return result, await store.list_streams()
        finally:
            await store.close()

    result, streams = asyncio.run(rebuild())
    assert result.differences == 0
    assert seen == sorted(seen) == [s for s in streams if s.startswith(("chat/", "temperature/"))]
    assert (result.threads, result.temperature_configs) == (8, 4) and len(seen) == 12


def test_replay_pages_streams_and_events_to_the_same_result(
    cli: Cli, chat_log: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of 2 stream names and 2 events: every thread spans pages, and so does the log.
    monkeypatch.setattr(replay, "PAGE", 2)
    assert cli("replay", "--check", "--store", chat_log) == (
        0,
        SUMMARY + "live state matches\n",
        "",
    )


def test_replay_progress_counts_every_event_folded(chat_log: str) -> None:
    steps: list[int] = []

    async def rebuild() -> ReplayResult:
        store = await open_store(chat_log, codec=EventCodec())
        try:
            return await replay_log(store, progress=steps.append)
        finally:
            await store.close()

    result = asyncio.run(rebuild())
    assert sum(steps) == result.events == 44


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


def test_replay_check_stays_clean_while_the_pipeline_appends(chat_log: str) -> None:
    """The fold stops at the version the live side loaded, so a racing append is no difference."""

    async def run() -> tuple[ReplayResult, list[str], int]:
        core = await open_core(chat_log)
        threads = [
            name for name in await core.store.list_streams(limit=1000) if name.startswith("chat/")
        ]
        stop, under_way = asyncio.Event(), asyncio.Event()
        posted = 0

        async def keep_posting(stream: str) -> None:
            nonlocal posted
            _, tenant, env, thread_id = stream.split("/")
            while not stop.is_set():
                await core.bus.send(
                    PostMessage(
                        context=RequestContext(tenant=tenant, env=Env(env), request_id="r-1"),
                        auth=AUTH,
                        thread_id=thread_id,
                        role="user",
                        content="while replaying",
                    )
                )
                posted += 1
                if posted >= len(threads):
                    under_way.set()

        differences: list[str] = []
        # A writer a thread, as clients post: each commit lands several.
        writer = asyncio.gather(*(keep_posting(stream) for stream in threads))
        try:
            # The writer is under way before the replay starts, however slow the machine.
            await asyncio.wait_for(under_way.wait(), 60)
            before = posted
            result = await replay_log(core.store, check=True, on_difference=differences.append)
            during = posted - before
        finally:
            stop.set()
            await writer
            await core.close()
        return result, differences, during

    result, differences, during = asyncio.run(run())
    assert during > 0, "the writer did not run beside the replay"
    assert differences == []
    assert result.threads == 8
