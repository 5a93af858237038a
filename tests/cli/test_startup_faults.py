"""`chat-core serve` and `chat-core token` as an operator meets their faults: one line, exit 2."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.reliability.server import AUDIENCE, ISSUER, MASTER_KEY, ROOT, SECRET, free_port

pytestmark = pytest.mark.slow


def _serve(
    *flags: str, cwd: Path, timeout: float = 30, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `chat-core serve` until it exits by itself (every case here must exit at start)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_CORE_")}
    environment.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "transports.cli.main", "serve", *flags],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _assert_one_line_refusal(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("chat-core: "), lines
    for word in words:
        assert word in lines[0], lines
    assert "token" not in done.stdout and "Bearer" not in done.stdout, done.stdout


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_in_use_is_one_line_and_no_token_is_printed(tmp_path: Path, taken_port: int) -> None:
    done = _serve("--port", str(taken_port), cwd=tmp_path)
    _assert_one_line_refusal(done, f"127.0.0.1:{taken_port}", "in use")


def test_an_unsupported_store_url_is_one_line(tmp_path: Path) -> None:
    done = _serve("--port", str(free_port()), "--store", "bogus://nowhere", cwd=tmp_path)
    _assert_one_line_refusal(done, "bogus://nowhere")


def test_an_unreachable_postgresql_is_one_line_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql://chat:hunter2@127.0.0.1:{free_port()}/chat"
    done = _serve("--port", str(free_port()), "--store", url, cwd=tmp_path)
    _assert_one_line_refusal(done, "PostgreSQL")
    assert "hunter2" not in done.stderr


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """Return a folder on a read-only filesystem (a tmpfs mounted ro), or skip where none can be."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"no read-only filesystem can be mounted here: {mounted.stderr!r}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_data_folder_is_one_line(tmp_path: Path, read_only_folder: Path) -> None:
    store = f"sqlite:///{read_only_folder / 'data' / 'chat.db'}"
    done = _serve("--port", str(free_port()), "--store", store, cwd=tmp_path)
    _assert_one_line_refusal(done, "read-only")


def test_a_prod_server_says_where_it_listens(tmp_path: Path) -> None:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_CORE_")}
    environment.update(
        PYTHONPATH=str(ROOT),
        CHAT_CORE_MODE="prod",
        CHAT_CORE_STORE=f"sqlite:///{tmp_path / 'chat.db'}",
        CHAT_CORE_PORT=str(port),
        CHAT_CORE_ISSUER=ISSUER,
        CHAT_CORE_AUDIENCE=AUDIENCE,
        CHAT_CORE_HS256_SECRET=SECRET.decode(),
        CHAT_CORE_MASTER_KEY=MASTER_KEY,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "transports.cli.main", "serve"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = _first_line(server.stdout, timeout=30)
        assert line.startswith(f"chat-core listening on http://127.0.0.1:{port}"), line
        assert "prod mode" in line
        # The socket is bound once the line is out.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        server.terminate()
        assert server.wait(timeout=15) == 0


def _first_line(stream: IO[str], *, timeout: float) -> str:
    """Return the first line the server prints, or "" when none comes within timeout."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else ""


def _token(*flags: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_CORE_")}
    environment.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "transports.cli.main", "token", "--sub", "u_ada", *flags],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_token_in_a_folder_without_the_dev_secret_refuses_instead_of_making_one(
    tmp_path: Path,
) -> None:
    done = _token("--tenant", "t_acme:member", cwd=tmp_path)
    assert done.returncode == 2, done
    assert "no dev secret" in done.stderr and "CHAT_CORE_HS256_SECRET" in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "data").exists()


def test_token_in_jwks_mode_says_the_identity_provider_mints_tokens(tmp_path: Path) -> None:
    public = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    jwks = f'{{"keys": [{{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": "{public}"}}]}}'
    done = _token("--tenant", "t_acme:member", cwd=tmp_path, CHAT_CORE_JWKS=jwks)
    assert done.returncode == 2, done
    assert "identity provider" in done.stderr
    assert done.stdout == ""


def test_a_master_key_that_does_not_wrap_the_stores_data_keys_is_one_line(
    tmp_path: Path,
) -> None:
    from tests.tooling.logs import write_chat_log

    store = f"sqlite:///{tmp_path / 'chat.db'}"
    asyncio.run(write_chat_log(store))  # a dev log: its keys are wrapped by the dev key beside it
    done = _serve(
        "--port",
        str(free_port()),
        "--store",
        store,
        cwd=tmp_path,
        CHAT_CORE_MODE="prod",
        CHAT_CORE_ISSUER=ISSUER,
        CHAT_CORE_AUDIENCE=AUDIENCE,
        CHAT_CORE_HS256_SECRET=SECRET.decode(),
        CHAT_CORE_MASTER_KEY=MASTER_KEY,
    )
    _assert_one_line_refusal(done, "wrapped by master key", "chat-core rotate-master-key")
