"""Tooling over any event store: select, follow, export, verify, copy and count a log."""

from events.tooling.copy import CopyError, CopyResult, IdempotencyOf, copy_log
from events.tooling.export import PayloadView, Sink, export_events, export_record, open_export
from events.tooling.selection import Progress, Selection, follow_selection, read_selection
from events.tooling.stats import LogStats, StatsRow, log_stats
from events.tooling.verify import Fault, LogVerifier

__all__ = [
    "CopyError",
    "CopyResult",
    "Fault",
    "IdempotencyOf",
    "LogStats",
    "LogVerifier",
    "PayloadView",
    "Progress",
    "Selection",
    "Sink",
    "StatsRow",
    "copy_log",
    "export_events",
    "export_record",
    "follow_selection",
    "log_stats",
    "open_export",
    "read_selection",
]
