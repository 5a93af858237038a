"""Count how often a function's code runs: a profiler watching real code, not a mock."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["calls_of"]


def calls_of(function: Callable[..., Any], run: Callable[[], Any]) -> int:
    """Return how often function's code runs while run() runs."""
    code, seen = function.__code__, []

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call" and frame.f_code is code:
            seen.append(frame)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(previous)
    return len(seen)
