"""Settings, the dev secret, `chat-core token` and `chat-core serve` as a user runs them."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from chat_core.bootstrap import token_settings
from chat_core.settings import Settings, SettingsError, dev_secret, load_settings
from chat_core.tokens import TokenVerifier
from events.envelope import Env
from transports.cli.main import main

SECRET = "s" * 32


def test_prod_mode_refuses_to_start_without_issuer_audience_and_keys() -> None:
    with pytest.raises(SettingsError, match=r"CHAT_CORE_ISSUER.*CHAT_CORE_AUDIENCE.*SECRET"):
        load_settings({"CHAT_CORE_MODE": "prod"})


def test_prod_mode_starts_with_issuer_audience_and_secret() -> None:
    settings = load_settings(
        {
            "CHAT_CORE_MODE": "prod",
            "CHAT_CORE_MASTER_KEY": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=",
            "CHAT_CORE_ISSUER": "https://idp.example",
            "CHAT_CORE_AUDIENCE": "chat-core",
            "CHAT_CORE_HS256_SECRET": SECRET,
        }
    )
    assert settings.mode == "prod"
    assert token_settings(settings).algorithms == ("HS256",)


def test_prod_mode_never_makes_a_secret(tmp_path: Path) -> None:
    settings = Settings(mode="prod", jwks=None, store_url=f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(SettingsError):
        token_settings(settings)
    assert not (tmp_path / "dev-hs256.secret").exists()


def test_flags_override_environment_variables() -> None:
    settings = load_settings({"CHAT_CORE_PORT": "9000"}, {"port": "9001"})
    assert settings.port == 9001


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHAT_CORE_PORT", "eighty"),
        ("CHAT_CORE_MODE", "staging"),
        ("CHAT_CORE_ENVS", "dev,qa"),
        ("CHAT_CORE_HS256_SECRET", "short"),
        ("CHAT_CORE_MAX_BODY", "0"),
        ("CHAT_CORE_TEMPERATURE_DEFAULTS", '{"default": 3}'),
        ("CHAT_CORE_TEMPERATURE_DEFAULTS", "not json"),
        ("CHAT_CORE_LOG_FORMAT", "xml"),
    ],
)
def test_malformed_settings_are_refused_with_the_variable_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def test_envs_setting_limits_the_allowed_envs() -> None:
    assert load_settings({"CHAT_CORE_ENVS": "dev, prod"}).envs == {Env.DEV, Env.PROD}


def test_dev_secret_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    first = dev_secret(tmp_path / "data")
    second = dev_secret(tmp_path / "data")
    path = tmp_path / "data" / "dev-hs256.secret"
    assert first == second
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_token_command_mints_a_token_the_server_accepts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_CORE_HS256_SECRET", SECRET)
    status = main(["token", "--sub", "u_ada", "--tenant", "t_acme:member,admin", "--ttl", "60"])
    token = capsys.readouterr().out.strip()
    assert status == 0
    verifier = TokenVerifier(token_settings(load_settings(os.environ)))
    auth = verifier.verify(token)
    assert auth.sub == "u_ada"
    assert set(auth.memberships) == {"t_acme"}


def test_token_command_refuses_t_unknown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_CORE_HS256_SECRET", SECRET)
    status = main(["token", "--sub", "u_ada", "--tenant", "t_unknown:member"])
    assert status == 2
    assert "t_unknown" not in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_serve_in_dev_mode_prints_a_working_token_and_curl_line(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_CORE_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "transports.cli.main", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = "".join(server.stdout.readline() for _ in range(6))
        curl = re.search(r"curl -s (\S+) -H 'Authorization: Bearer (\S+)'", banner)
        assert curl is not None, banner
        url, token = curl.groups()
        request = urllib.request.Request(
            url,
            headers={"Authorization": f"Bearer {token}", "X-Tenant-Id": "t_dev", "X-Env": "dev"},
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert (tmp_path / "data" / "chat.db").exists()
        assert stat.S_IMODE((tmp_path / "data" / "dev-hs256.secret").stat().st_mode) == 0o600
    finally:
        server.terminate()
        assert server.wait(timeout=15) == 0
