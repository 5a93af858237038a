"""`python -m bench` runs every benchmark it lists: each module has a run() it can call."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import BENCHMARKS


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_listed_benchmark_has_a_run_the_runner_can_call(name: str) -> None:
    run = getattr(importlib.import_module(f"bench.{name}"), "run", None)
    assert callable(run), f"bench.{name} has no run(): python -m bench would skip it"
    parameters = inspect.signature(run).parameters
    assert "report" in parameters or "quick" in parameters


@pytest.mark.parametrize("logs", [[], ["--access-log"]])
@pytest.mark.parametrize("kind", ["post", "get"])
def test_the_instruction_count_child_serves_every_request_it_sends(
    kind: str, logs: list[str]
) -> None:
    # In a process of its own: the child sets the serve command's GC and logging settings.
    # It raises on any answer but 2xx, so a broken route cannot be counted as cheap, and,
    # with --access-log, on fewer access lines than requests.
    child = [sys.executable, "-m", "bench.instructions", "--child", "64", kind, *logs]
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run(child, capture_output=True, timeout=120, cwd=root).returncode == 0


def test_the_instruction_count_refuses_an_unknown_kind() -> None:
    from bench.instructions import main

    assert main(["put"]) == 2
    assert main(["post", "get"]) == 2


def test_the_trace_follows_a_post_from_the_route_into_the_store() -> None:
    import asyncio

    from bench.trace import trace

    files = list(asyncio.run(trace("post")).files)
    assert files[0].startswith("transports/http/"), files
    assert any(name.startswith("events/store/") for name in files), files
    assert not any(name.startswith(("tests/", "bench/")) for name in files), files
