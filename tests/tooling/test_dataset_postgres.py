"""export --format chat | preference from PostgreSQL: the bytes of its SQLite source."""

from __future__ import annotations

import base64

import pytest

from tests.pg import postgres_url
from tests.tooling.conftest import Cli
from tests.tooling.test_dataset_export import branched
from tests.tooling.test_dataset_ratings import rated

__all__ = ["branched", "postgres_url", "rated"]

pytestmark = pytest.mark.postgres


def _export(cli: Cli, url: str, *flags: str) -> str:
    status, out, err = cli("export", "--store", url, "-o", "-", *flags)
    assert status == 0, err
    return out


@pytest.mark.parametrize("log", ["branched", "rated"])
def test_a_postgres_copy_gives_the_same_dataset_lines(
    cli: Cli,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    log: str,
) -> None:
    url, _ = request.getfixturevalue(log)
    formats = [("--format", "chat"), ("--format", "chat", "--paths", "heads")]
    formats += [("--format", "chat", "--min-rating", "1"), ("--format", "preference")]
    # The dev log's keys are wrapped by the dev key beside it; the copy's by the configured one.
    originals = [_export(cli, url, *flags) for flags in formats]
    assert any(originals)
    monkeypatch.setenv("CHAT_CORE_MASTER_KEY", base64.b64encode(b"p" * 32).decode())
    status, _, err = cli("copy", url, postgres_url)
    assert status == 0, err
    assert [_export(cli, postgres_url, *flags) for flags in formats] == originals
