"""Clients generated from the served /openapi.json work as they come out of the generator.

openapi-typescript's types must pass `tsc --noEmit --strict` on a small program
(tests/openapi/typescript/program.ts) without any generator flag; openapi-python-client's
package must import, and its models must parse a real server's answers and WebSocket frames.
The generators are outside tools: without them these tests skip and say how to get them,
except under CI=true, where scripts/generator_tools.sh installs them and a missing one fails.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from tests.openapi.conftest import TENANT

ROOT = Path(__file__).resolve().parents[2]
NODE_TOOLS = ROOT / ".cache" / "generators" / "node_modules"
PROGRAM = Path(__file__).resolve().parent / "typescript"
PYTHON_GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "chat_core_generated_client"
ON_CI = os.environ.get("CI") == "true"

Client = TestClient[Any, Any]


def _node_tools() -> Path:
    """Return node_modules holding the TypeScript generators, installing them on CI."""
    if not (NODE_TOOLS / ".bin" / "tsc").exists() and ON_CI:
        subprocess.run(["bash", str(ROOT / "scripts" / "generator_tools.sh")], check=True)
    if (NODE_TOOLS / ".bin" / "tsc").exists():
        return NODE_TOOLS
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed; the TypeScript client cannot be generated")
    pytest.skip("the TypeScript generators are not installed: run scripts/generator_tools.sh")


async def _run(*command: str | Path, cwd: Path) -> str:
    """Run a tool to the end; fail the test with its output when it exits non-zero."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    process = await asyncio.create_subprocess_exec(
        *map(str, command),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"{command[0]} failed:\n{text}"
    return text


async def _served_document(client: Client, folder: Path) -> Path:
    async with client.get("/openapi.json") as response:
        assert response.status == 200
        path = folder / "openapi.json"
        path.write_bytes(await response.read())
    return path


async def test_typescript_client_type_checks_strictly(client: Client, tmp_path: Path) -> None:
    tools = _node_tools()
    document = await _served_document(client, tmp_path)
    for name in ("program.ts", "tsconfig.json"):
        shutil.copy(PROGRAM / name, tmp_path / name)
    (tmp_path / "node_modules").symlink_to(tools, target_is_directory=True)
    generator = tools / ".bin" / "openapi-typescript"
    await _run(generator, document, "--output", tmp_path / "api.d.ts", cwd=tmp_path)
    await _run(tools / ".bin" / "tsc", "--noEmit", "--strict", "-p", "tsconfig.json", cwd=tmp_path)


@pytest.fixture
def python_client_folder(tmp_path: Path) -> Iterator[Path]:
    if not PYTHON_GENERATOR.exists():
        if ON_CI:
            pytest.fail("openapi-python-client is missing: install the dev extras")
        pytest.skip("openapi-python-client is not installed: pip install -e '.[dev]'")
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_python_client_parses_real_answers_and_frames(
    client: Client, headers: dict[str, str], python_client_folder: Path
) -> None:
    document = await _served_document(client, python_client_folder)
    output = python_client_folder / PACKAGE
    await _run(
        PYTHON_GENERATOR,
        "generate",
        "--path",
        document,
        "--meta",
        "none",
        "--output-path",
        output,
        cwd=python_client_folder,
    )
    generated = importlib.import_module(PACKAGE)
    models = _module("models")
    chat = "api.chat."
    token = headers["Authorization"].removeprefix("Bearer ")
    base_url = str(client.make_url("")).rstrip("/")
    context = {"x_tenant_id": TENANT, "x_env": models.Env.DEV}
    async with generated.AuthenticatedClient(base_url=base_url, token=token) as api:
        created = await _module(chat + "post_chat_threads").asyncio_detailed(
            client=api, body=models.CreateThread(title="generated"), **context
        )
        assert created.status_code == 201
        thread = created.parsed
        assert isinstance(thread, models.Thread)
        posted = await _module(chat + "post_chat_threads_thread_id_messages").asyncio_detailed(
            thread.id, client=api, body=models.PostMessage(content="hello"), **context
        )
        assert posted.status_code == 201
        assert isinstance(posted.parsed, models.Message)
        assert posted.parsed.role == models.MessageRole.USER
        page = await _module(chat + "get_chat_threads_thread_id_messages").asyncio_detailed(
            thread.id, client=api, **context
        )
        assert isinstance(page.parsed, models.MessagePage)
        assert [m.content for m in page.parsed.data] == ["hello"]
        missing = await _module(chat + "get_chat_threads_thread_id").asyncio_detailed(
            "th_missing", client=api, **context
        )
        assert isinstance(missing.parsed, models.Problem)
        assert missing.parsed.status == 404
        issued = await _module(chat + "post_chat_stream_tickets").asyncio_detailed(
            client=api, body=models.PostChatStreamTicketsBody(thread_id=thread.id), **context
        )
        assert issued.status_code == 201
        ticket = issued.parsed.ticket

    # A browser's socket: the ticket alone, no header at all.
    frames: list[Any] = []
    async with (
        ClientSession() as session,
        session.ws_connect(f"{base_url}/chat/ws?ticket={ticket}") as socket,
    ):
        subscribe = models.SubscribeFrame(op="subscribe", thread_id=thread.id, id=1, after=0)
        await socket.send_str(orjson.dumps(subscribe.to_dict()).decode())
        post = models.PostFrame(op="post", thread_id=thread.id, content="again", id="p")
        await socket.send_str(orjson.dumps(post.to_dict()).decode())
        parse = {"ack": models.AckFrame, "error": models.ErrorFrame, "event": models.EventFrame}
        async with asyncio.timeout(5):
            while len(frames) < 5:
                raw = orjson.loads(await socket.receive_str())
                frames.append(parse[raw["op"]].from_dict(raw))
    acks = [frame for frame in frames if isinstance(frame, models.AckFrame)]
    assert [ack.id for ack in acks] == [1, "p"]
    assert isinstance(acks[1].message, models.Message)
    assert acks[1].message.content == "again"
    events = [frame.event for frame in frames if isinstance(frame, models.EventFrame)]
    assert [type(event) for event in events] == [
        models.ChatThreadCreatedEvent,
        models.ChatMessagePostedEvent,
        models.ChatMessagePostedEvent,
    ]
    assert events[0].data.title == "generated"
    assert [event.data.content for event in events[1:]] == ["hello", "again"]
