"""Fixtures of the search tests: the HTTP suite's clients on each backend, and the CLI."""

from __future__ import annotations

from tests.erasure.conftest import master_key, sqlite_client, sqlite_url  # noqa: F401 (fixtures)
from tests.http.conftest import (  # noqa: F401 (fixtures)
    client,
    make_client,
    memory_client,
    postgres_url,
    store,
    store_url,
)
from tests.tooling.conftest import cli  # noqa: F401 (a fixture)
