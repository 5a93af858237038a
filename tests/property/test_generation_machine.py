"""Concurrent generations, cancels, time-outs and reconnecting readers against a model.

Agents stream replies into threads of two tenants and two envs of a real server on
loopback (the memory store, and a SQLite file); readers follow the threads over SSE and
the WebSocket, drop off and come back with Last-Event-ID or `after`. The model says what
each reply's text and status are. Whatever the interleaving:

- the text a reader assembles from a thread's chunks is the model's text of each reply,
  and no event (no chunk) reaches a reader twice across its reconnects, nor out of order;
- the page shows each reply's text and status as the model has them;
- a refused step (wrong index, not the author, not in progress) appends nothing, and a
  repeated chunk, even sent twice at once, appends one event;
- every event in the store has the tenant and env of its thread and a request id of its
  own (the one the request sent, or a fresh one for a WebSocket frame and the server's
  own time-out); `t_unknown` is nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp.test_utils import TestClient, TestServer
from attrs import define, field, frozen
from hypothesis import event as tell
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from chat_core.bootstrap import ChatCore, bootstrap
from events.envelope import RESERVED_TENANT
from events.store.memory import MemoryEventStore
from tests.http.helpers import USERS, token
from tests.http.helpers import settings as app_settings
from transports.http.app import create_app
from transports.http.app_keys import CORE

Client = TestClient[Any, Any]

# Two tenants, and two envs of one of them.
PARTITIONS = (("t_acme", "dev"), ("t_acme", "prod"), ("t_globex", "dev"))
AGENTS = ("u_bot", "u_gpt")
AGENT_TOKENS = {sub: token(sub, {"t_acme": ["agent"], "t_globex": ["agent"]}) for sub in AGENTS}
# Readers of the cast: members and an admin.
READERS = ("u_ada", "u_bob", "u_cyd")
KINDS = st.sampled_from(["sse", "ws"])
TEXTS = st.sampled_from(["a", "b ", "héllo ", "wörld", "\n", "🙂", "x" * 50])
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ENDS = {
    "chat.message.completed": "complete",
    "chat.message.cancelled": "cancelled",
    "chat.message.failed": "failed",
}
WAIT = 10.0


class Clock:
    """The server's clock: the real time plus whatever the machine let pass."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@frozen
class ThreadRef:
    tenant: str
    env: str
    thread_id: str


@define(eq=False)
class Gen:
    """A generation as the model has it."""

    thread: ThreadRef
    message_id: str
    author: str
    chunks: list[str] = field(factory=list)
    status: str = "in_progress"
    error: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@define(eq=False)
class Reader:
    """A client following a thread: every event it got, over all its connections."""

    thread: ThreadRef
    sub: str
    kind: str  # "sse" or "ws"
    events: list[dict[str, Any]] = field(factory=list)
    task: asyncio.Task[None] | None = None
    errors: list[str] = field(factory=list)
    connections: int = 0
    arrived: asyncio.Event = field(factory=asyncio.Event)

    @property
    def last(self) -> int:
        return int(self.events[-1]["version"]) if self.events else 0

    @property
    def connected(self) -> bool:
        return self.task is not None and not self.task.done()


def _member_of(thread: ThreadRef, index: int) -> str:
    members = [sub for sub in READERS if thread.tenant in USERS[sub]]
    return members[index % len(members)]


def _sse_events(buffer: bytearray) -> list[dict[str, Any]]:
    """Take the complete SSE frames off the front of buffer; return their data."""
    found = []
    while (end := buffer.find(b"\n\n")) != -1:
        frame, buffer[:] = bytes(buffer[:end]), buffer[end + 2 :]
        fields = dict(
            line.split(": ", 1) for line in frame.decode().split("\n") if ": " in line[:40]
        )
        if "data" in fields:
            data = orjson.loads(fields["data"])
            assert fields["id"] == str(data["version"]), fields
            assert fields["event"] == data["type"], fields
            found.append(data)
    return found


class GenerationMachine(RuleBasedStateMachine):
    """Start, chunk, complete, cancel, fail and time out replies while readers come and go."""

    threads = Bundle("threads")
    gens = Bundle("gens")

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="genprops-")
        self.clock = Clock()
        self.runner = asyncio.Runner()
        self.client: Client = self.runner.run(self._start())
        self.core: ChatCore = self.client.app[CORE]
        self.request_ids = itertools.count(1)
        # Request id sent -> the partition it was sent to; ids the server made itself.
        self.sent: dict[str, tuple[str, str]] = {}
        self.fresh_ids = 0
        self.versions: dict[ThreadRef, int] = {}
        self.all_gens: list[Gen] = []
        self.all_readers: list[Reader] = []
        self.events = 0
        self.checked = 0
        self.seen_request_ids: set[str] = set()

    def store_url(self) -> str:
        return "memory://"

    async def _start(self) -> Client:
        url = self.store_url()
        store = MemoryEventStore() if url == "memory://" else None
        core = await bootstrap(settings=app_settings(store_url=url), store=store, clock=self.clock)
        client: Client = TestClient(TestServer(create_app(core)))
        await client.start_server()
        return client

    def teardown(self) -> None:
        try:
            # Only after a run that passed: a failure on its way out is the one to tell.
            if sys.exc_info()[1] is None:
                self._final_check()
        finally:
            try:
                self.run(self._stop_readers())
                self.run(self.client.close())
            finally:
                self.runner.close()
                shutil.rmtree(self.folder, ignore_errors=True)

    def run(self, coroutine: Any) -> Any:
        return self.runner.run(coroutine)

    # Requests -----------------------------------------------------------------------

    def _headers(self, sub: str, thread: ThreadRef) -> dict[str, str]:
        request_id = f"gp-{next(self.request_ids)}"
        self.sent[request_id] = (thread.tenant, thread.env)
        bearer = AGENT_TOKENS.get(sub) or token(sub)
        return {
            "Authorization": f"Bearer {bearer}",
            "X-Tenant-Id": thread.tenant,
            "X-Env": thread.env,
            "X-Request-Id": request_id,
        }

    async def _post(
        self, sub: str, thread: ThreadRef, path: str, body: Mapping[str, Any]
    ) -> tuple[int, Any]:
        headers = self._headers(sub, thread)
        async with self.client.post(path, json=body, headers=headers) as response:
            answer = orjson.loads(await response.read())
            assert response.headers["X-Request-Id"] == headers["X-Request-Id"]
            return response.status, answer

    def post(
        self, sub: str, thread: ThreadRef, path: str, body: Mapping[str, Any]
    ) -> tuple[int, Any]:
        return self.run(self._post(sub, thread, path, body))  # type: ignore[no-any-return]

    async def _frame(self, sub: str, thread: ThreadRef, frame: Mapping[str, Any]) -> Any:
        headers = self._headers(sub, thread)
        async with self.client.ws_connect("/chat/ws", headers=headers) as socket:
            await socket.send_json({"id": 1, **frame})
            async with asyncio.timeout(WAIT):
                return await socket.receive_json()

    def frame(self, sub: str, thread: ThreadRef, frame: Mapping[str, Any]) -> Any:
        return self.run(self._frame(sub, thread, frame))

    def _step(self, gen: Gen, sub: str, op: str, body: Mapping[str, Any], via: str) -> Any:
        """Take a step over HTTP or the WebSocket; return (status, body) in HTTP's terms."""
        if via == "http":
            path = f"/chat/threads/{gen.thread.thread_id}/messages/{gen.message_id}/{op}"
            return self.post(sub, gen.thread, path, body)
        frame = {
            "op": {"chunks": "chunk"}.get(op, op),
            "thread_id": gen.thread.thread_id,
            "message_id": gen.message_id,
            **body,
        }
        reply = self.frame(sub, gen.thread, frame)
        if reply["op"] == "error":
            return reply["status"], reply
        assert reply["op"] == "ack", reply
        return 200, reply["chunk"] if op == "chunks" else reply["message"]

    def _appended(self, gen: Gen, via: str) -> None:
        self.events += 1
        self.versions[gen.thread] += 1
        if via == "ws":
            self.fresh_ids += 1

    # Threads and generations --------------------------------------------------------

    @initialize(target=threads, kinds=st.tuples(KINDS, KINDS))
    def two_partitions(self, kinds: tuple[str, str]) -> Any:
        """A thread in each of two tenants, each with a reader."""
        made = self._create(PARTITIONS[0], 0), self._create(PARTITIONS[2], 1)
        for thread, kind in zip(made, kinds, strict=True):
            self._open_reader(thread, 0, kind)
        return multiple(*made)

    @initialize(target=gens, agent=st.sampled_from(AGENTS), kind=KINDS)
    def a_reply_under_way(self, agent: str, kind: str) -> Gen:
        """A third partition (another env of a tenant): a reply streaming, a reader on it."""
        thread = self._create(PARTITIONS[1], 2)
        self._open_reader(thread, 1, kind)
        return self.start(thread, agent)

    @rule(target=threads, partition=st.sampled_from(PARTITIONS), who=st.integers(0, 2))
    def create_thread(self, partition: tuple[str, str], who: int) -> ThreadRef:
        return self._create(partition, who)

    def _create(self, partition: tuple[str, str], who: int) -> ThreadRef:
        draft = ThreadRef(partition[0], partition[1], "")
        status, thread = self.post(_member_of(draft, who), draft, "/chat/threads", {"title": "t"})
        assert status == 201, thread
        ref = ThreadRef(partition[0], partition[1], thread["id"])
        self.versions[ref] = 1
        self.events += 1
        return ref

    @rule(target=gens, thread=threads, agent=st.sampled_from(AGENTS))
    def start(self, thread: ThreadRef, agent: str) -> Gen:
        body = {"role": "assistant", "status": "in_progress", "model": "m"}
        status, message = self.post(
            agent, thread, f"/chat/threads/{thread.thread_id}/messages", body
        )
        assert status == 201, message
        assert (message["status"], message["content"], message["author"]) == (
            "in_progress",
            "",
            agent,
        )
        gen = Gen(thread, message["id"], agent)
        self.all_gens.append(gen)
        self.events += 1
        self.versions[thread] += 1
        return gen

    @rule(gen=gens, content=TEXTS, via=st.sampled_from(["http", "ws"]))
    def chunk(self, gen: Gen, content: str, via: str) -> None:
        index = len(gen.chunks)
        status, answer = self._step(
            gen, gen.author, "chunks", {"index": index, "content": content}, via
        )
        if gen.status != "in_progress":
            assert status == 409, answer
            return
        assert status == 200, answer
        gen.chunks.append(content)
        assert answer == {"message_id": gen.message_id, "index": index, "length": len(gen.text)}
        self._appended(gen, via)

    @rule(gen=gens, pick=st.integers(0, 100), via=st.sampled_from(["http", "ws"]))
    def repeat_chunk(self, gen: Gen, pick: int, via: str) -> None:
        """The same index and content again: 200, nothing appended."""
        if not gen.chunks:
            return
        index = pick % len(gen.chunks)
        body = {"index": index, "content": gen.chunks[index]}
        status, answer = self._step(gen, gen.author, "chunks", body, via)
        if gen.status != "in_progress":
            assert status == 409, answer
            return
        assert status == 200, answer
        assert answer == {"message_id": gen.message_id, "index": index, "length": len(gen.text)}

    @rule(
        gen=gens,
        kind=st.sampled_from(["other_content", "past", "negative", "stranger"]),
        skip=st.integers(1, 3),
        via=st.sampled_from(["http", "ws"]),
    )
    def wrong_chunk(self, gen: Gen, kind: str, skip: int, via: str) -> None:
        """A chunk the contract refuses: nothing appended, the next index told."""
        expected = len(gen.chunks)
        sub = gen.author
        if kind == "other_content":
            if not gen.chunks:
                return
            body = {"index": expected - 1, "content": gen.chunks[-1] + "!"}
        elif kind == "past":
            body = {"index": expected + skip, "content": "z"}
        elif kind == "negative":
            body = {"index": -skip, "content": "z"}
        else:
            sub = next(agent for agent in AGENTS if agent != gen.author)
            body = {"index": expected, "content": "z"}
        status, answer = self._step(gen, sub, "chunks", body, via)
        if kind == "negative":
            assert status == 422, answer
        elif kind == "stranger":
            assert status == 403, answer
        elif gen.status != "in_progress":
            assert status == 409, answer
        else:
            assert status == 409, answer
            assert answer["expected_index"] == expected, answer

    @rule(
        chosen=st.lists(gens, min_size=1, max_size=4, unique_by=lambda gen: gen.message_id),
        contents=st.lists(TEXTS, min_size=1, max_size=6),
        twice=st.booleans(),
    )
    def concurrent_streams(self, chosen: list[Gen], contents: list[str], twice: bool) -> None:
        """Several replies stream at once, each its chunks in turn; the first sends each twice.

        Sent twice at once: a retry racing its first try, both answered, one appended.
        """

        async def stream(gen: Gen, copies: int) -> list[list[tuple[int, Any]]]:
            path = f"/chat/threads/{gen.thread.thread_id}/messages/{gen.message_id}/chunks"
            answers = []
            for offset, content in enumerate(contents):
                body = {"index": len(gen.chunks) + offset, "content": content}
                sends = [self._post(gen.author, gen.thread, path, body) for _ in range(copies)]
                answers.append(list(await asyncio.gather(*sends)))
                if any(status != 200 for status, _ in answers[-1]):
                    break
            return answers

        async def all_at_once() -> list[list[list[tuple[int, Any]]]]:
            copies = [2 if twice and position == 0 else 1 for position in range(len(chosen))]
            return list(await asyncio.gather(*map(stream, chosen, copies)))

        streamed = self.run(all_at_once())
        for gen, answers in zip(chosen, streamed, strict=True):
            if gen.status != "in_progress":
                assert [status for status, _ in answers[0]] == [409] * len(answers[0])
                assert len(answers) == 1
                continue
            assert len(answers) == len(contents), answers
            for content, copies in zip(contents, answers, strict=True):
                gen.chunks.append(content)
                self._appended(gen, "http")
                expected = {"message_id": gen.message_id, "index": len(gen.chunks) - 1}
                expected["length"] = len(gen.text)
                assert copies == [(200, expected)] * len(copies), copies
        tell(f"concurrent streams: {len(chosen)} replies, twice={twice}")

    @rule(gen=gens, content=TEXTS, who=st.integers(0, 2))
    def stop_while_it_streams(self, gen: Gen, content: str, who: int) -> None:
        """The agent's next chunk and a reader's stop at once: either order, never both lost."""
        path = f"/chat/threads/{gen.thread.thread_id}/messages/{gen.message_id}"
        body = {"index": len(gen.chunks), "content": content}
        reader = _member_of(gen.thread, who)

        async def both() -> list[tuple[int, Any]]:
            return list(
                await asyncio.gather(
                    self._post(gen.author, gen.thread, f"{path}/chunks", body),
                    self._post(reader, gen.thread, f"{path}/cancel", {}),
                )
            )

        (chunked, chunk), (cancelled, stopped) = self.run(both())
        tell(f"stop while it streams: chunk {chunked}, cancel {cancelled}")
        if gen.status != "in_progress":
            assert chunked == 409, chunk
            assert cancelled == (200 if gen.status == "cancelled" else 409), stopped
            return
        assert cancelled == 200, stopped
        if chunked == 200:
            gen.chunks.append(content)
            self._appended(gen, "http")
            assert chunk["length"] == len(gen.text), chunk
        else:
            assert chunked == 409, chunk
        gen.status = "cancelled"
        self._appended(gen, "http")
        assert (stopped["status"], stopped["content"]) == ("cancelled", gen.text)

    @rule(
        gen=gens,
        finish=st.sampled_from(["stop", "length", None, "fail", "fail long"]),
        via=st.sampled_from(["http", "ws"]),
    )
    def finish(self, gen: Gen, finish: str | None, via: str) -> None:
        """The author completes the reply (a finish reason or none), or fails it."""
        if finish is not None and finish.startswith("fail"):
            self._fail(gen, "é" * 500 if finish == "fail long" else "the model went away")
            return
        body = {} if finish is None else {"finish_reason": finish}
        status, answer = self._step(gen, gen.author, "complete", body, via)
        if gen.status in ("cancelled", "failed"):
            assert status == 409, answer
            return
        assert status == 200, answer
        if gen.status == "in_progress":
            gen.status = "complete"
            self._appended(gen, via)
        assert (answer["status"], answer["content"]) == ("complete", gen.text)

    @rule(gen=gens, who=st.integers(0, 2), via=st.sampled_from(["http", "ws"]))
    def cancel(self, gen: Gen, who: int, via: str) -> None:
        """A reader, never the author, stops a reply."""
        status, answer = self._step(gen, _member_of(gen.thread, who), "cancel", {}, via)
        if gen.status in ("complete", "failed"):
            assert status == 409, answer
            return
        assert status == 200, answer
        if gen.status == "in_progress":
            gen.status = "cancelled"
            self._appended(gen, via)
        assert (answer["status"], answer["content"]) == ("cancelled", gen.text)

    def _fail(self, gen: Gen, error: str) -> None:
        status, answer = self._step(gen, gen.author, "fail", {"error": error}, "http")
        if gen.status in ("complete", "cancelled"):
            assert status == 409, answer
            return
        assert status == 200, answer
        if gen.status == "in_progress":
            gen.status, gen.error = "failed", error
            self._appended(gen, "http")
        assert (answer["status"], answer["content"], answer["error"]) == (
            "failed",
            gen.text,
            gen.error,
        )

    @precondition(lambda self: any(gen.status == "in_progress" for gen in self.all_gens))
    @rule(now=st.integers(0, 2))
    def time_passes(self, now: int) -> None:
        """Every reply in progress goes silent past the time-out and fails, once each.

        Drawn a third as often as a rule (it ends every reply at once).
        """
        if now:
            return
        silent = [gen for gen in self.all_gens if gen.status == "in_progress"]
        self.clock.ahead += timedelta(seconds=self.core.settings.generation_timeout + 1)
        self.run(self._until_timed_out(silent))
        for gen in silent:
            gen.status, gen.error = "failed", "timed out"
            self.events += 1
            self.versions[gen.thread] += 1
            self.fresh_ids += 1

    async def _until_timed_out(self, silent: list[Gen]) -> None:
        # The sweeper learns of a start through the log follower (or, for one before its
        # boot, the log itself) in the background: sweep until it has.
        left = silent
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WAIT):
                while left:
                    await self.core.sweeper.sweep()
                    left = [gen for gen in left if not await self._failed(gen)]
                    await asyncio.sleep(0.02)
        assert not left, ("silent past the time-out, still in progress", left)

    async def _failed(self, gen: Gen) -> bool:
        return bool((await self._page(gen.thread))[gen.message_id]["status"] == "failed")

    # Readers ------------------------------------------------------------------------

    @rule(thread=threads, who=st.integers(0, 2), kind=KINDS)
    def open_reader(self, thread: ThreadRef, who: int, kind: str) -> None:
        self._open_reader(thread, who, kind)

    def _open_reader(self, thread: ThreadRef, who: int, kind: str) -> None:
        reader = Reader(thread, _member_of(thread, who), kind)
        self.all_readers.append(reader)
        self._connect(reader, "header")

    @rule(pick=st.integers(0, 20))
    def disconnect(self, pick: int) -> None:
        self.run(self._disconnect(self.all_readers[pick % len(self.all_readers)]))

    @rule(pick=st.integers(0, 20), how=st.sampled_from(["header", "query"]))
    def bounce(self, pick: int, how: str) -> None:
        """Drop off and come straight back, whatever was in flight on the way."""
        reader = self.all_readers[pick % len(self.all_readers)]
        self.run(self._disconnect(reader))
        self._connect(reader, how)

    @rule(pick=st.integers(0, 20), how=st.sampled_from(["header", "query"]))
    def reconnect(self, pick: int, how: str) -> None:
        """Come back after the last event read (a dropped reader resumes, a live one stays)."""
        reader = self.all_readers[pick % len(self.all_readers)]
        if not reader.connected:
            self._connect(reader, how)

    @rule(pause=st.sampled_from([0.0, 0.01]))
    def readers_read(self, pause: float) -> None:
        """Let the readers read for a while, the loop running nothing else."""
        self.run(asyncio.sleep(pause))

    @rule()
    def readers_catch_up(self) -> None:
        self.run(self._catch_up())
        self._check_assembled()

    def _connect(self, reader: Reader, how: str) -> None:
        reader.connections += 1
        follow = self._follow_sse if reader.kind == "sse" else self._follow_ws
        reader.task = self.runner.get_loop().create_task(follow(reader, reader.last, how))

    async def _disconnect(self, reader: Reader) -> None:
        task, reader.task = reader.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _stop_readers(self) -> None:
        for reader in self.all_readers:
            await self._disconnect(reader)

    async def _follow_sse(self, reader: Reader, after: int, how: str) -> None:
        headers = self._headers(reader.sub, reader.thread)
        params = {}
        if after and how == "header":
            headers["Last-Event-ID"] = str(after)
        elif after:
            params["last_event_id"] = str(after)
        path = f"/chat/threads/{reader.thread.thread_id}/events"
        try:
            async with self.client.get(path, headers=headers, params=params) as response:
                if response.status != 200:
                    reader.errors.append(f"SSE {response.status}: {await response.text()}")
                    return
                buffer = bytearray()
                async for piece in response.content.iter_any():
                    buffer.extend(piece)
                    reader.events.extend(_sse_events(buffer))
                    reader.arrived.set()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # pragma: no cover - told by the invariant
            reader.errors.append(f"SSE reader failed: {error!r}")

    async def _follow_ws(self, reader: Reader, after: int, _how: str) -> None:
        headers = self._headers(reader.sub, reader.thread)
        try:
            async with self.client.ws_connect("/chat/ws", headers=headers) as socket:
                frame = {"op": "subscribe", "id": "s", "thread_id": reader.thread.thread_id}
                await socket.send_json({**frame, "after": after})
                async for message in socket:
                    data = orjson.loads(message.data)
                    if data["op"] == "event":
                        assert data["thread_id"] == reader.thread.thread_id, data
                        reader.events.append(data["event"])
                        reader.arrived.set()
                    elif data != {
                        "op": "ack",
                        "id": "s",
                        "thread_id": frame["thread_id"],
                        "after": after,
                    }:
                        reader.errors.append(f"WS frame: {data}")
        except asyncio.CancelledError:
            raise
        except Exception as error:  # pragma: no cover - told by the invariant
            reader.errors.append(f"WS reader failed: {error!r}")

    async def _catch_up(self) -> None:
        async with asyncio.timeout(WAIT):
            for reader in self.all_readers:
                while reader.task is not None and reader.last < self.versions[reader.thread]:
                    reader.arrived.clear()
                    arrival = asyncio.ensure_future(reader.arrived.wait())
                    await asyncio.wait({arrival, reader.task}, return_when="FIRST_COMPLETED")
                    arrival.cancel()
                    if reader.task.done():
                        break

    # Checks -------------------------------------------------------------------------

    @invariant()
    def readers_get_each_event_once_in_order(self) -> None:
        for reader in self.all_readers:
            assert not reader.errors, reader.errors
            versions = [event["version"] for event in reader.events]
            assert versions == list(range(1, len(versions) + 1)), (reader.kind, versions)
            assert reader.last <= self.versions[reader.thread]
            self._check_reader_prefix(reader)

    def _check_reader_prefix(self, reader: Reader) -> None:
        """What a reader has so far is the start of each reply, and nothing after its end."""
        gens = {gen.message_id: gen for gen in self.all_gens if gen.thread == reader.thread}
        chunks: dict[str, list[str]] = {}
        ended: dict[str, str] = {}
        for event in reader.events:
            thread = reader.thread
            assert (event["tenant"], event["env"]) == (thread.tenant, thread.env), event
            assert event["request_id"] and RESERVED_TENANT not in orjson.dumps(event).decode()
            data = event["data"]
            if event["type"] == "chat.message.chunk":
                message_id = data["message_id"]
                assert message_id not in ended, ("a chunk after the end", event)
                got = chunks.setdefault(message_id, [])
                assert data["index"] == len(got), ("a chunk twice or skipped", event)
                got.append(data["content"])
                assert got == gens[message_id].chunks[: len(got)], (got, gens[message_id])
                assert data["length"] == len("".join(got)), event
            elif event["type"] in ENDS:
                message_id = data["message_id"]
                assert message_id not in ended, ("an end twice", event)
                ended[message_id] = ENDS[event["type"]]
                assert ended[message_id] == gens[message_id].status, (event, gens[message_id])
                assert chunks.get(message_id, []) == gens[message_id].chunks, event

    def _check_assembled(self) -> None:
        """A reader caught up holds every reply of its thread whole, as the model has it."""
        for reader in self.all_readers:
            if not reader.connected:
                continue
            assert reader.last == self.versions[reader.thread], reader.kind
            recorded = self.run(self.core.store.read_stream(self._stream(reader.thread)))
            stored = [
                (
                    item.event.version,
                    str(item.event.event_id),
                    item.event.type,
                    item.event.request_id,
                )
                for item in recorded
            ]
            streamed = [
                (e["version"], e["event_id"], e["type"], e["request_id"]) for e in reader.events
            ]
            assert streamed == stored
            texts: dict[str, str] = {}
            status: dict[str, str] = {}
            for event in reader.events:
                data = event["data"]
                if event["type"] == "chat.message.posted":
                    status[data["message_id"]] = data["status"]
                    texts.setdefault(data["message_id"], "")
                elif event["type"] == "chat.message.chunk":
                    texts[data["message_id"]] += data["content"]
                elif event["type"] in ENDS:
                    status[data["message_id"]] = ENDS[event["type"]]
            for gen in self.all_gens:
                if gen.thread == reader.thread:
                    assert (texts[gen.message_id], status[gen.message_id]) == (
                        gen.text,
                        gen.status,
                    ), (reader.kind, gen)

    def _stream(self, thread: ThreadRef) -> str:
        return f"chat/{thread.tenant}/{thread.env}/{thread.thread_id}"

    async def _page(self, thread: ThreadRef) -> dict[str, dict[str, Any]]:
        headers = self._headers(READERS[0], thread)
        path = f"/chat/threads/{thread.thread_id}/messages"
        async with self.client.get(path, params={"limit": "100"}, headers=headers) as response:
            assert response.status == 200, await response.text()
            page = orjson.loads(await response.read())
        return {message["id"]: message for message in page["data"]}

    @invariant()
    def the_page_shows_each_reply_as_the_model_has_it(self) -> None:
        for thread in self.versions:
            messages = self.run(self._page(thread))
            for gen in self.all_gens:
                if gen.thread == thread:
                    read = messages[gen.message_id]
                    assert (read["content"], read["status"], read["error"]) == (
                        gen.text,
                        gen.status,
                        gen.error,
                    ), gen

    @invariant()
    def every_event_has_its_own_tenant_env_and_request_id(self) -> None:
        assert self.run(self.core.store.head_position()) == self.events
        recorded = list(self._events_after(self.checked))
        threads = {thread.thread_id: thread for thread in self.versions}
        authors = {gen.message_id: gen.author for gen in self.all_gens}
        fresh = 0
        for item in recorded:
            event = item.event
            thread = threads[event.stream.rsplit("/", 1)[-1]]
            assert event.stream == self._stream(thread), event
            assert (event.tenant, event.env.value) == (thread.tenant, thread.env), event
            assert RESERVED_TENANT not in repr(event), event
            request_id = event.request_id
            assert request_id not in self.seen_request_ids, ("a request id twice", event)
            self.seen_request_ids.add(request_id)
            if request_id in self.sent:
                assert self.sent[request_id] == (thread.tenant, thread.env), event
                assert event.actor != "chat-core", event
            else:
                # A WebSocket frame's, or the time-out's: a fresh id, never a default.
                assert UUID4.match(request_id), event
                fresh += 1
            message_id = getattr(event.payload, "message_id", None)
            if event.actor == "chat-core":
                assert event.type == "chat.message.failed", event
                assert event.payload.error == "timed out", event  # type: ignore[attr-defined]
            elif event.type in ("chat.message.chunk", "chat.message.completed"):
                assert event.actor == authors[message_id], event
            elif event.type == "chat.message.cancelled":
                assert event.actor in READERS, event
        self.fresh_ids -= fresh
        self.checked += len(recorded)
        assert self.fresh_ids == 0

    def _events_after(self, position: int) -> list[Any]:
        async def read() -> list[Any]:
            return [item async for item in self.core.store.read_all(after_position=position)]

        return self.run(read())  # type: ignore[no-any-return]

    def _final_check(self) -> None:
        """Every reader, back once more, gets the rest of each reply exactly once."""
        resumed = sum(reader.connections > 1 for reader in self.all_readers)
        tell(
            f"readers that resumed: {min(resumed, 3)}+"
            if resumed >= 3
            else f"readers that resumed: {resumed}"
        )
        appended = sum(len(gen.chunks) for gen in self.all_gens)
        tell(f"chunks appended: {'20+' if appended >= 20 else 'under 20'}")
        for reader in self.all_readers:
            if not reader.connected:
                self._connect(reader, "header")
        self.run(self._catch_up())
        self.readers_get_each_event_once_in_order()
        self._check_assembled()


GenerationMachine.TestCase.settings = settings(
    settings.default,
    max_examples=min(settings.default.max_examples, 50),
    stateful_step_count=40,
)
TestGenerationMachine = GenerationMachine.TestCase


class SqliteGenerationMachine(GenerationMachine):
    """The same machine on a SQLite file, with restarts: what was acknowledged is there after."""

    def store_url(self) -> str:
        return f"sqlite:///{self.folder}/chat.db"

    @rule(silent=st.booleans())
    def restart(self, silent: bool) -> None:
        """The server goes down mid-reply and comes back on the file; readers resume there.

        Silent: the agents went down with it, and the replies they left time out.
        """
        self.run(self._stop_readers())
        self.run(self.client.close())
        self.client = self.run(self._start())
        self.core = self.client.app[CORE]
        tell(f"restarted, silent={silent}")
        if silent and any(gen.status == "in_progress" for gen in self.all_gens):
            self.time_passes(0)


SqliteGenerationMachine.TestCase.settings = settings(
    settings.default,
    max_examples=min(settings.default.max_examples, 12),
    stateful_step_count=40,
)
TestSqliteGenerationMachine = SqliteGenerationMachine.TestCase
