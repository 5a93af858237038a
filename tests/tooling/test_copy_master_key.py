"""chat-core copy carries the data keys for the master key its copy will serve with."""

from __future__ import annotations

import asyncio
import base64

import pytest

from chat_core.bootstrap import bootstrap
from chat_core.settings import Settings, SettingsError
from events.crypto import MasterKey
from tests.pg import postgres_url
from tests.tooling.conftest import Cli

__all__ = ["postgres_url"]

pytestmark = pytest.mark.postgres

COPY_KEY = b"c" * 32
OTHER_KEY = b"o" * 32


def _export(cli: Cli, url: str) -> str:
    status, out, err = cli("export", "--store", url, "-o", "-")
    assert status == 0, err
    return out


def test_a_copy_to_postgres_reads_its_sealed_content_under_the_configured_master_key(
    cli: Cli, chat_log: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The source is a dev log: its keys are wrapped by the dev key kept beside it.
    original = _export(cli, chat_log)
    assert "hello 1" in original  # opened, not sealed
    monkeypatch.setenv("CHAT_CORE_MASTER_KEY", base64.b64encode(COPY_KEY).decode())
    status, _, err = cli("copy", chat_log, postgres_url)
    assert status == 0, err
    assert MasterKey(COPY_KEY).key_id in err
    assert _export(cli, postgres_url) == original


def test_a_server_on_keys_another_master_wraps_refuses_to_start_with_the_mend(
    cli: Cli, chat_log: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_CORE_MASTER_KEY", base64.b64encode(COPY_KEY).decode())
    assert cli("copy", chat_log, postgres_url)[0] == 0
    settings = Settings(hs256_secret=b"x" * 32, store_url=postgres_url, master_key=OTHER_KEY)
    with pytest.raises(SettingsError) as refused:
        asyncio.run(bootstrap(settings=settings))
    message = str(refused.value)
    assert MasterKey(COPY_KEY).key_id in message and MasterKey(OTHER_KEY).key_id in message
    assert "chat-core rotate-master-key" in message


def test_a_copy_refuses_a_destination_whose_keys_another_master_wraps(
    cli: Cli, chat_log: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_CORE_MASTER_KEY", base64.b64encode(COPY_KEY).decode())
    assert cli("copy", chat_log, postgres_url)[0] == 0
    monkeypatch.setenv("CHAT_CORE_MASTER_KEY", base64.b64encode(OTHER_KEY).decode())
    status, _, err = cli("copy", chat_log, postgres_url)
    assert status == 2
    assert "rotate-master-key" in err
