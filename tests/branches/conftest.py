"""Fixtures of the branch, fork and feedback tests: the HTTP suite's clients on each backend."""

from __future__ import annotations

from tests.http.conftest import (  # noqa: F401 (fixtures)
    client,
    make_client,
    memory_client,
    memory_store,
    postgres_url,
    store,
    store_url,
)
from tests.tooling.conftest import cli  # noqa: F401 (a fixture)
