"""Run every benchmark (or those named by --only) and print one table of figures."""

from __future__ import annotations

import argparse
import asyncio
import importlib

from bench.report import Report

# Each module has `async def run(report: Report) -> None`; add new ones (e.g. "http") here.
BENCHMARKS = ["store", "tooling", "postgres"]


def main() -> None:
    """Parse the flags and run the chosen benchmarks in order."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run just these")
    parser.add_argument("--quick", action="store_true", help="smaller, shorter runs")
    args = parser.parse_args()
    report = Report(quick=args.quick)
    for name in args.only or BENCHMARKS:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        asyncio.run(module.run(report))
    report.print_table()


if __name__ == "__main__":
    main()
