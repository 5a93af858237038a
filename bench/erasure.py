"""Encryption costs: per-message sealing against the cost of a POST, and export with decryption;
and an erasure beside a reader that holds a snapshot, with the posts made meanwhile.

python -m bench.erasure [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from chat_core.bootstrap import bootstrap
from chat_core.commands import CreateThread, EraseSubject, PostMessage
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.export_view import ChatExportView, ChatViewOpener, redacted_messages
from chat_core.sealing import open_message, seal_message
from chat_core.settings import Settings
from events.bus import Command
from events.codec import EventCodec
from events.crypto import MasterKey, new_data_key
from events.envelope import Env
from events.keys import KeyRing, MemoryKeyStore
from events.store import open_store
from events.store.sqlite_keys import SQLiteKeyStore
from events.store.sqlite_schema import COLUMNS, connect, migrate
from events.tooling import Selection, export_events, open_export
from events.tooling.parallel import ParallelLog, usable_cores
from events.tooling.parallel_export import export_parallel

EXPORT_TARGET = 150_000
POST_BUDGET = 0.10
SUBJECTS = 100
_INSERT = f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * 14)})"
CONTENT = "message of a benchmark thread, about sixty bytes long......"


async def seal_cost(count: int) -> tuple[float, float]:
    """Return microseconds to seal and to open one message."""
    keys = KeyRing(MemoryKeyStore(), MasterKey(new_data_key()))
    key = await keys.writing_key("t_bench", "u_bench")
    started = time.perf_counter()
    sealed = [
        seal_message(
            keys,
            key,
            tenant="t_bench",
            author="u_bench",
            message_id=f"msg_{i}",
            content=CONTENT,
            metadata={"k": "v"},
        )
        for i in range(count)
    ]
    sealing = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for i, value in enumerate(sealed):
        open_message(keys, tenant="t_bench", author="u_bench", message_id=f"msg_{i}", sealed=value)
    return sealing, (time.perf_counter() - started) / count * 1e6


async def post_cost(path: Path, count: int) -> float:
    """Return microseconds per POST through the real pipeline on SQLite, 64 threads at once."""
    settings = Settings(hs256_secret=b"x" * 32, store_url=f"sqlite:///{path}")
    core = await bootstrap(settings=settings)
    auth = AuthContext(sub="u_bench", memberships={"t_bench": frozenset({Role.MEMBER})})
    context = RequestContext(tenant="t_bench", env=Env.PROD, request_id="r-bench")
    threads = [
        (await core.bus.send(CreateThread(context=context, auth=auth))).id for _ in range(64)
    ]

    async def post(thread_id: str, n: int) -> None:
        for _ in range(n):
            await core.bus.send(
                PostMessage(
                    context=context, auth=auth, thread_id=thread_id, role="user", content=CONTENT
                )
            )

    started = time.perf_counter()
    await asyncio.gather(*(post(thread_id, count // 64) for thread_id in threads))
    elapsed = time.perf_counter() - started
    await core.close()
    return elapsed / (count // 64 * 64) * 1e6


async def beside_a_reader(path: Path, posts: int) -> tuple[float, str, float, float]:
    """Erase a subject while another connection holds a read transaction on the SQLite file.

    Return the seconds the erasure took to answer and its status, the longest of the posts
    made beside it while the reader held on (seconds), and the seconds from the reader
    letting go to the erasure's completion.
    """
    settings = Settings(hs256_secret=b"x" * 32, store_url=f"sqlite:///{path}")
    core = await bootstrap(settings=settings)
    admin = AuthContext(sub="u_admin", memberships={"t_bench": frozenset(Role)})
    erased = AuthContext(sub="u_erased", memberships={"t_bench": frozenset({Role.MEMBER})})
    context = RequestContext(tenant="t_bench", env=Env.PROD, request_id="r-bench")
    thread_id = (await core.bus.send(CreateThread(context=context, auth=admin))).id

    def post(auth: AuthContext) -> PostMessage:
        return PostMessage(
            context=context, auth=auth, thread_id=thread_id, role="user", content=CONTENT
        )

    async def timed(command: Command[Any]) -> tuple[Any, float]:
        started = time.perf_counter()
        answer: Any = await core.bus.send(command)
        return answer, time.perf_counter() - started

    await core.bus.send(post(erased))
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM events").fetchone()
        erasing = asyncio.create_task(
            timed(EraseSubject(context=context, auth=admin, subject="u_erased"))
        )
        longest = 0.0
        for _ in range(posts):  # while the erasure runs, and after it answered
            longest = max(longest, (await timed(post(admin)))[1])
        view, answered = await erasing
        reader.execute("COMMIT")
    finally:
        reader.close()
    let_go = time.perf_counter()
    status = view.status
    while status == "pending":
        await asyncio.sleep(0.01)
        status = await core.erasures.progress.status(view.erasure_id)
    completed = time.perf_counter() - let_go
    await core.close()
    return answered, view.status, longest, completed


async def build_sealed_log(path: str, count: int, keys: KeyRing) -> None:
    """Write count events (a thread then nine sealed messages) straight into a SQLite file."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    writing = {s: await keys.writing_key(f"t_bench{s % 3}", f"u_bench{s}") for s in range(SUBJECTS)}
    rows = []
    for position in range(1, count + 1):
        thread, offset = divmod(position - 1, 10)
        subject = thread % SUBJECTS
        tenant, author = f"t_bench{subject % 3}", f"u_bench{subject}"
        thread_id = f"th_{thread:012d}"
        if offset == 0:
            event_type, version = "chat.thread.created", 1
            payload: dict[str, object] = {"thread_id": thread_id, "title": None, "metadata": {}}
        else:
            event_type, version = "chat.message.posted", 2
            message_id = f"msg_{position:012d}"
            sealed = seal_message(
                keys,
                writing[subject],
                tenant=tenant,
                author=author,
                message_id=message_id,
                content=CONTENT,
                metadata={},
            )
            payload = {
                "thread_id": thread_id,
                "message_id": message_id,
                "seq": offset,
                "role": "user",
                "sealed": sealed,
                "content": None,
                "metadata": {},
            }
        rows.append(
            (
                position,
                uuid.UUID(int=position).bytes,
                f"chat/{tenant}/prod/{thread_id}",
                offset + 1,
                event_type,
                version,
                tenant,
                "prod",
                f"req-{position}",
                f"req-{position}",
                author,
                (start + timedelta(milliseconds=position)).isoformat(timespec="microseconds"),
                orjson.dumps(payload),
                None,
            )
        )
    conn = connect(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.executemany(_INSERT, rows)
        conn.execute("COMMIT")
        # As a log at rest is: its pages in the main file, not in the WAL.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


async def export_rate(workdir: Path, count: int) -> tuple[float, float, float]:
    """Return events/s of an export that opens every message of a sealed log, alone and with
    worker processes, and of one that leaves them sealed."""
    path = str(workdir / "sealed.db")
    conn = connect(path)
    migrate(conn)
    conn.close()
    master = MasterKey(new_data_key())
    key_store = await SQLiteKeyStore.open(path, clock=lambda: datetime.now(UTC))
    await build_sealed_log(path, count, KeyRing(key_store, master))
    codec = EventCodec()
    store = await open_store(f"sqlite:///{path}", codec=codec)
    try:
        started = time.perf_counter()
        with open_export(workdir / "raw.jsonl", stdout=None) as sink:  # type: ignore[arg-type]
            await export_events(store, codec, Selection(), sink)
        raw = count / (time.perf_counter() - started)
        started = time.perf_counter()
        keys = KeyRing(key_store, master)
        view = ChatExportView(
            keys=keys, redacted=await redacted_messages(store), converter=codec.converter
        )
        with open_export(workdir / "export.jsonl", stdout=None) as sink:  # type: ignore[arg-type]
            exported = await export_events(store, codec, Selection(), sink, view=view)
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        opener = ChatViewOpener(
            key_store_url=f"sqlite:///{path}",
            master_secret=master.secret,
            redacted=frozenset(await redacted_messages(store)),
        )
        with (workdir / "parallel.jsonl").open("wb") as out:
            log = ParallelLog(path=path, jobs=usable_cores())
            in_parallel = await export_parallel(log, Selection(), out, view=opener)
        parallel_elapsed = time.perf_counter() - started
    finally:
        await store.close()
        await key_store.close()
    assert exported == in_parallel == count
    same = (workdir / "parallel.jsonl").read_bytes() == (workdir / "export.jsonl").read_bytes()
    assert same, "the parallel export differs from the sequential one"
    return count / elapsed, count / parallel_elapsed, raw


async def measure(quick: bool) -> None:
    """Print every figure with its target."""
    sealing, opening = await seal_cost(20_000 if quick else 100_000)
    with tempfile.TemporaryDirectory(prefix="bench-erasure-") as workdir:
        per_post = await post_cost(Path(workdir) / "posts.db", 6_400 if quick else 25_600)
        share = sealing / per_post
        print(f"seal one message: {sealing:.2f} us; open one: {opening:.2f} us")
        print(f"POST through the pipeline on SQLite (sealing included): {per_post:.1f} us each")
        verdict = "target met" if share < POST_BUDGET else "TARGET MISSED"
        print(f"  sealing is {share:.2%} of a POST's cost: {verdict} (< {POST_BUDGET:.0%})")
        count = 200_000 if quick else 1_000_000
        rate, parallel, raw = await export_rate(Path(workdir), count)
        print(f"export with decryption, {count:,} events, one process: {rate:,.0f} events/s")
        verdict = "target met" if parallel >= EXPORT_TARGET else "TARGET MISSED"
        print(
            f"export with decryption, {count:,} events, {usable_cores()} worker processes: "
            f"{parallel:,.0f} events/s ({parallel / rate:.2f}x): {verdict} "
            f"(>= {EXPORT_TARGET:,} events/s)"
        )
        print(f"  the same log exported sealed (no keys), one process: {raw:,.0f} events/s")
        answered, status, longest, completed = await beside_a_reader(
            Path(workdir) / "reader.db", 20 if quick else 100
        )
        print(
            f"erasure beside a reader holding a snapshot: answered {status} in "
            f"{answered * 1e3:.1f} ms; the longest post meanwhile {longest * 1e3:.1f} ms; "
            f"completed {completed * 1e3:.0f} ms after the reader let go"
        )


def run(*, quick: bool = False) -> None:
    """Run the encryption benchmark from `python -m bench`, which printed it missing."""
    asyncio.run(measure(quick))


def main() -> None:
    """Run the encryption benchmark alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.erasure")
    parser.add_argument("--quick", action="store_true", help="smaller logs")
    asyncio.run(measure(parser.parse_args().quick))


if __name__ == "__main__":
    main()
