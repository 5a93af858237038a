"""With CHAT_CORE_LOG_FORMAT=json every line of a real server's stderr is one JSON object,
warnings included (joserfc warns about EdDSA tokens)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey

from tests.reliability.server import AUDIENCE, ISSUER, MASTER_KEY, ROOT, free_port

KEY = OKPKey.generate_key("Ed25519", parameters={"kid": "ed-1"})


def _eddsa_token() -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u_ada",
        "iat": now,
        "exp": now + 600,
        "tenants": {"t_acme": ["member"]},
    }
    return jwt.encode({"alg": "EdDSA", "kid": "ed-1"}, claims, KEY, algorithms=["EdDSA"])


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited at start"
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise AssertionError("the server did not come up")


def test_a_warning_is_one_json_line_in_the_json_log(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(KeySet([KEY]).as_dict(private=False)))
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CHAT_CORE_MODE": "prod",
        "CHAT_CORE_STORE": "memory://",
        "CHAT_CORE_HOST": "127.0.0.1",
        "CHAT_CORE_PORT": str(port),
        "CHAT_CORE_ISSUER": ISSUER,
        "CHAT_CORE_AUDIENCE": AUDIENCE,
        "CHAT_CORE_JWKS": str(jwks),
        "CHAT_CORE_MASTER_KEY": MASTER_KEY,
        "CHAT_CORE_LOG_FORMAT": "json",
        "CHAT_CORE_LOG_LEVEL": "INFO",
    }
    env.pop("PYTHONWARNINGS", None)
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr, (tmp_path / "stdout.log").open("wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "transports.cli.main", "serve"],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_healthy(base_url, process)
            request = urllib.request.Request(
                f"{base_url}/temperature/config",
                headers={
                    "Authorization": f"Bearer {_eddsa_token()}",
                    "X-Tenant-Id": "t_acme",
                    "X-Env": "dev",
                },
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 200
            process.terminate()
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    lines = [line for line in stderr_path.read_text().splitlines() if line.strip()]
    records = []
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict), line
        records.append(record)
    warned = [record for record in records if record["logger"] == "py.warnings"]
    assert warned, lines
    assert all(record["level"] == "WARNING" for record in warned)
    assert any("EdDSA" in record["message"] for record in warned)
