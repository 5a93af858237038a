"""`python -m bench` runs every benchmark it lists: each module has a run() it can call."""

from __future__ import annotations

import importlib
import inspect

import pytest

from bench.__main__ import BENCHMARKS


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_listed_benchmark_has_a_run_the_runner_can_call(name: str) -> None:
    run = getattr(importlib.import_module(f"bench.{name}"), "run", None)
    assert callable(run), f"bench.{name} has no run(): python -m bench would skip it"
    parameters = inspect.signature(run).parameters
    assert "report" in parameters or "quick" in parameters
