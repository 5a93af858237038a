"""Run every benchmark (or those named by --only) on loopback and print their figures.

Store-level modules (`store`, `tooling`, `postgres`) add figures to one shared table; the
server-level ones (`http_api`, `streams`, `generation`, `soak`, `jwt_attacks`, `erasure`)
print their own tables as they finish. Each figure stands beside its reference measured in
the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect

from bench.report import Report

BENCHMARKS = [
    "store",
    "tooling",
    "http_api",
    "branches",
    "search",
    "thread_list",
    "redaction_stall",
    "jwt_attacks",
    "streams",
    "generation",
    "erasure",
    "datasets",
    "consumers",
    "webhooks",
    "postgres",
    "soak",
]


def _run(name: str, report: Report) -> None:
    """Run one benchmark module, whichever of the two run() shapes it has."""
    run = getattr(importlib.import_module(f"bench.{name}"), "run", None)
    if run is None:
        print(f"  bench.{name} has no run(); run it alone: python -m bench.{name}")
        return
    parameters = inspect.signature(run).parameters
    if "report" in parameters:
        kwargs = {"quick": report.quick} if "quick" in parameters else {}
        result = run(report, **kwargs)
    else:
        result = run(quick=report.quick)
    if inspect.isawaitable(result):
        asyncio.run(_await(result))


async def _await(result: object) -> None:
    await result  # type: ignore[misc]


def main() -> None:
    """Parse the flags and run the chosen benchmarks in order."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run just these")
    parser.add_argument("--quick", action="store_true", help="smaller, shorter runs")
    args = parser.parse_args()
    report = Report(quick=args.quick)
    for name in args.only or BENCHMARKS:
        print(f"== {name}", flush=True)
        _run(name, report)
    report.print_table()


if __name__ == "__main__":
    main()
