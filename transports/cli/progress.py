"""A progress bar on a terminal, and nothing at all when standard error is piped."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from events.tooling import Progress

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(description: str, *, total: int | None) -> Iterator[Progress]:
    """Yield a function that advances a bar by n events; the bar shows only on a terminal."""
    bar = tqdm(
        total=total or None,
        desc=description,
        unit=" events",
        unit_scale=True,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,
        dynamic_ncols=True,
    )

    def advance(count: int) -> None:
        bar.update(count)

    try:
        yield advance
    finally:
        bar.close()
