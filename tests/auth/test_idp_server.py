"""A real `chat-core serve` process against a real identity provider's endpoints on 127.0.0.1.

Key rotation without a restart (a JWKS URL that rotates, a JWKS file rewritten then SIGHUP),
OpenID discovery, and start-up fetches that fail as one line with exit status 2.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, Key, KeySet, OKPKey, RSAKey

from tests.reliability.server import (
    AUDIENCE,
    ISSUER,
    MASTER_KEY,
    ServerProcess,
    chat_core_command,
    free_port,
)

from .jwks_server import jwks_server

KEY_A = RSAKey.generate_key(2048, parameters={"kid": "rsa-a"})
KEY_B = ECKey.generate_key("P-256", parameters={"kid": "ec-b"})
KEY_C = OKPKey.generate_key("Ed25519", parameters={"kid": "ed-c"})
STRANGER = RSAKey.generate_key(2048, parameters={"kid": "rsa-x"})
ALGORITHMS = {"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}
# No HS256 secret: these servers verify with the identity provider's keys only.
JWKS_ONLY = {"CHAT_CORE_HS256_SECRET": "", "CHAT_CORE_LOG_LEVEL": "INFO"}


def _token(key: Key, *, sub: str = "u_ada", issuer: str = ISSUER, kid: str | None = None) -> str:
    now = int(time.time())
    alg = ALGORITHMS[key.key_type]
    claims = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now,
        "exp": now + 3600,
        "tenants": {"t_acme": ["member"]},
    }
    return jwt.encode({"alg": alg, "kid": kid or key.kid}, claims, key, algorithms=[alg])


def _get(server: ServerProcess, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{server.base_url}/temperature/config",
        headers={"Authorization": f"Bearer {token}", "X-Tenant-Id": "t_acme", "X-Env": "dev"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def _write_jwks(path: Path, keys: list[Key]) -> None:
    """Replace the file in one rename, as an operator's deploy tool would."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(KeySet(keys).as_dict(private=False)))
    os.replace(partial, path)


def _jwks_counters(server: ServerProcess) -> tuple[float, float]:
    """Return /metrics' counts of JWKS fetches (reads of a file) and of those that failed."""
    with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("chat_core_jwks_fetches_total", "chat_core_jwks_fetch_failures_total"):
            found[name] = float(value)
    return found["chat_core_jwks_fetches_total"], found["chat_core_jwks_fetch_failures_total"]


def _accepted_within(server: ServerProcess, token: str, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _get(server, token)[0] == 200:
            return True
        time.sleep(0.1)
    return False


def test_a_rotating_jwks_url_is_followed_without_a_restart(tmp_path: Path) -> None:
    with jwks_server([KEY_A]) as idp:
        env = {**JWKS_ONLY, "CHAT_CORE_JWKS": idp.jwks_url}
        with ServerProcess("memory://", tmp_path / "server.log", **env) as server:
            assert _get(server, _token(KEY_A))[0] == 200
            assert idp.requests == 1
            # The provider rolls its key: the first token of the new key fetches once.
            idp.rotate([KEY_A, KEY_B])
            assert _get(server, _token(KEY_B))[0] == 200
            assert idp.requests == 2
            # A kid the provider does not have either: within 30 s, no fetch at all.
            for kid in ("rsa-x", "rsa-y"):
                status, problem = _get(server, _token(STRANGER, kid=kid))
                assert status == 401
                assert problem["detail"] == "a valid bearer token is required: unknown kid"
            assert idp.requests == 2
            # The provider goes down: SIGHUP fetches, fails, and the last good keys serve.
            idp.down = True
            server.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
            deadline = time.monotonic() + 20
            while "JWKS not refreshed" not in server.log_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "JWKS not refreshed" in server.log_text()
            assert _get(server, _token(KEY_B, sub="u_bob"))[0] == 200
            assert _get(server, _token(KEY_A, sub="u_cyd"))[0] == 200
            assert server.process.poll() is None  # type: ignore[union-attr]
            # An operator sees it: the fetch at start, the new kid's, SIGHUP's that failed.
            assert _jwks_counters(server) == (3, 1)


def test_sighup_reloads_a_rewritten_jwks_file_and_the_server_lives(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    _write_jwks(path, [KEY_A])
    env = {**JWKS_ONLY, "CHAT_CORE_JWKS": str(path)}
    with ServerProcess("memory://", tmp_path / "server.log", **env) as server:
        assert _get(server, _token(KEY_A))[0] == 200
        assert _get(server, _token(KEY_C))[0] == 401
        _write_jwks(path, [KEY_C])
        server.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        assert _accepted_within(server, _token(KEY_C)), server.log_text()
        assert server.process.poll() is None  # type: ignore[union-attr]
        # The key taken out of the file no longer verifies, cached token or not.
        assert _get(server, _token(KEY_A))[0] == 401
        # A file broken by hand: SIGHUP keeps the last good keys, and the server lives.
        path.write_text("{not json")
        server.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        deadline = time.monotonic() + 20
        while "JWKS file not reloaded" not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "JWKS file not reloaded" in server.log_text()
        assert _get(server, _token(KEY_C, sub="u_bob"))[0] == 200
        # The read at start and two on SIGHUP, the second of them failed.
        assert _jwks_counters(server) == (3, 1)
        assert server.terminate() == 0


def test_an_oidc_issuer_names_the_keys_and_the_issuer(tmp_path: Path) -> None:
    with jwks_server([KEY_A]) as idp:
        env = {**JWKS_ONLY, "CHAT_CORE_ISSUER": "", "CHAT_CORE_OIDC_ISSUER": idp.base_url}
        with ServerProcess("memory://", tmp_path / "server.log", **env) as server:
            assert _get(server, _token(KEY_A, issuer=idp.base_url))[0] == 200
            status, problem = _get(server, _token(KEY_A, issuer=ISSUER))
            assert (status, problem["detail"]) == (
                401,
                "a valid bearer token is required: wrong issuer",
            )
            assert idp.discovery_requests == 1


def _closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("CHAT_CORE_JWKS", "{closed}/jwks.json", "chat-core: cannot fetch {closed}/jwks.json: "),
        (
            "CHAT_CORE_JWKS",
            "http://idp.example/jwks.json",
            "chat-core: a JWKS URL must be an https://",
        ),
        (
            "CHAT_CORE_OIDC_ISSUER",
            "{closed}",
            "chat-core: cannot fetch {closed}/.well-known/openid-configuration: ",
        ),
    ],
)
def test_a_start_up_fetch_that_fails_is_one_line_and_exit_2(
    variable: str, value: str, says: str
) -> None:
    closed = _closed_url()
    env = {
        "CHAT_CORE_MODE": "prod",
        "CHAT_CORE_STORE": "memory://",
        "CHAT_CORE_PORT": str(free_port()),
        "CHAT_CORE_ISSUER": ISSUER,
        "CHAT_CORE_AUDIENCE": AUDIENCE,
        "CHAT_CORE_MASTER_KEY": MASTER_KEY,
        variable: value.format(closed=closed),
    }
    status, output = chat_core_command("serve", env=env)
    assert status == 2, output
    assert output.startswith(says.format(closed=closed)), output
    assert output.count("\n") == 1, output


def test_a_dev_server_on_the_providers_keys_only_starts_and_prints_no_dev_token(
    tmp_path: Path,
) -> None:
    with jwks_server([KEY_A]) as idp:
        env = {**JWKS_ONLY, "CHAT_CORE_MODE": "dev", "CHAT_CORE_JWKS": idp.jwks_url}
        with ServerProcess("memory://", tmp_path / "server.log", **env) as server:
            assert _get(server, _token(KEY_A))[0] == 200
            log = server.log_text()
            assert f"chat-core listening on {server.base_url}" in log
            assert "dev token" not in log
            assert server.process.poll() is None  # type: ignore[union-attr]
