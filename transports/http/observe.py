"""Metrics wiring: the app's metrics, hooked to the store's writer while the app runs."""

from __future__ import annotations

from aiohttp import web

from transports.http.app_keys import CORE, METRICS
from transports.http.metrics import AppMetrics, writer_stats

__all__ = ["add_metrics"]


def add_metrics(app: web.Application) -> None:
    """Give the app its metrics and hook them to the store's writer while the app runs."""
    core = app[CORE]
    metrics = AppMetrics(core, tenant_labels=core.settings.metrics_tenant_labels)
    app[METRICS] = metrics
    stats = writer_stats(core)
    if stats is not None:
        stats.observers.append(metrics)
        app.on_cleanup.append(_unhook)


async def _unhook(app: web.Application) -> None:
    stats = writer_stats(app[CORE])
    if stats is not None and app[METRICS] in stats.observers:
        stats.observers.remove(app[METRICS])
