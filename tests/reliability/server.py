"""Run the real server (`python -m transports.cli.main serve`) as a subprocess on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from chat_core.tokens import mint_token

__all__ = [
    "AUDIENCE",
    "ISSUER",
    "MASTER_KEY",
    "SECRET",
    "ServerProcess",
    "free_port",
    "headers_for",
]

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"reliability-secret-" + b"r" * 30
ISSUER = "https://idp.reliability.test"
AUDIENCE = "chat-core"
# base64 of 32 bytes: the data-key master that prod mode asks for once erasure lands.
MASTER_KEY = "bWFzdGVyLWtleS1yZWxpYWJpbGl0eS10ZXN0cy0zMmI="


def free_port() -> int:
    """Return a loopback port that was free a moment ago (the server cannot take port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def headers_for(
    sub: str = "u_ada", tenant: str = "t_acme", roles: Sequence[str] = ("member", "admin")
) -> dict[str, str]:
    """Return the headers of a member (and admin) of tenant, with a token the server accepts."""
    token = mint_token(
        secret=SECRET,
        issuer=ISSUER,
        audience=AUDIENCE,
        sub=sub,
        tenants={tenant: list(roles)},
        ttl=3600,
    )
    return {"Authorization": f"Bearer {token}", "X-Tenant-Id": tenant, "X-Env": "dev"}


class ServerProcess:
    """One `chat-core serve` in prod mode on a free loopback port, logging to a file."""

    def __init__(
        self, store_url: str, log_path: Path, *, port: int | None = None, **env: str
    ) -> None:
        self.store_url = store_url
        self.log_path = log_path
        # A given port lets a test start the server again where its clients expect it.
        self.port = free_port() if port is None else port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "CHAT_CORE_MODE": "prod",
            "CHAT_CORE_STORE": store_url,
            "CHAT_CORE_HOST": "127.0.0.1",
            "CHAT_CORE_PORT": str(self.port),
            "CHAT_CORE_ISSUER": ISSUER,
            "CHAT_CORE_AUDIENCE": AUDIENCE,
            "CHAT_CORE_HS256_SECRET": SECRET.decode(),
            "CHAT_CORE_MASTER_KEY": MASTER_KEY,
            "CHAT_CORE_LOG_LEVEL": "WARNING",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """Return the server's process id."""
        assert self.process is not None
        return self.process.pid

    def start(self, *, timeout: float = 20.0) -> ServerProcess:
        """Start the server and wait until /healthz answers."""
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "transports.cli.main", "serve"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the server did not come up in {timeout} s:\n{self.log_text()}")

    def kill(self) -> None:
        """SIGKILL the server and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self._reap(10)

    def terminate(self, *, timeout: float = 30.0) -> int:
        """SIGTERM the server and return its exit status (SIGKILL if it outlives timeout)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self._reap(timeout)

    def wait(self, timeout: float) -> int:
        """Wait for the server to exit by itself; return its exit status."""
        return self._reap(timeout)

    def _reap(self, timeout: float) -> int:
        assert self.process is not None
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            if self._log is not None and self.process.poll() is not None:
                self._log.close()
                self._log = None
        return status

    def log_text(self) -> str:
        """Return everything the server wrote so far."""
        if self._log is not None:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


def chat_core_command(*args: str, env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Run `python -m transports.cli.main ARGS` and return its exit status and output."""
    done = subprocess.run(
        [sys.executable, "-m", "transports.cli.main", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr
