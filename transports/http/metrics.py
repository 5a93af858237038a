"""Prometheus metrics of one app, in a registry of its own: requests, store, streams, tokens.

No series carries message text or tenant content; a `tenant` label on the request counter
appears only when the app is built with tenant labels on (`CHAT_CORE_METRICS_TENANT_LABELS`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from chat_core.bootstrap import ChatCore
from events.store.group_commit import WriterStats

__all__ = ["CONTENT_TYPE", "STREAM_ROUTES", "AppMetrics", "writer_stats"]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Route templates of the long-lived streams, by the kind the open-streams gauge names.
STREAM_ROUTES = {"/chat/threads/{thread_id}/events": "sse", "/chat/ws": "websocket"}
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
# Request series looked up once and kept; past this many (odd methods, statuses) start over.
# The histogram's bucket labels, as prometheus-client writes them ("0.001", "1.0", "+Inf").
_BOUNDS = [*(repr(float(bound)) for bound in _LATENCY_BUCKETS), "+Inf"]
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class AppMetrics:
    """Hold one app's series and the hooks that feed them; render them as Prometheus text."""

    def __init__(self, core: ChatCore, *, tenant_labels: bool = False) -> None:
        self.tenant_labels = tenant_labels
        self.registry = CollectorRegistry()
        # Counted in plain ints on the request path, turned into Prometheus families at
        # scrape time (_RequestCollector): prometheus-client's labelled Histogram.observe
        # plus Counter.inc cost about 1.5 us a request, a tenth of that here.
        self._series: dict[tuple[str, str, int, str | None], _RequestSeries] = {}
        self.registry.register(_RequestCollector(self._series, tenant_labels=tenant_labels))
        self._open_streams = Gauge(
            "chat_core_open_streams",
            "Server-Sent Event streams and WebSockets open now.",
            ["kind"],
            registry=self.registry,
        )
        for kind in STREAM_ROUTES.values():
            self._open_streams.labels(kind=kind)
        self._commit_seconds = Histogram(
            "chat_core_store_commit_seconds",
            "Time the store's writer took to commit one transaction.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._append_seconds = Histogram(
            "chat_core_store_append_seconds",
            "Time from an append's call to its commit, queueing included.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._batch_size = Histogram(
            "chat_core_store_commit_batch_size",
            "Appends grouped into one committed transaction (group commit).",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_CoreCollector(core))

    def observe_request(
        self, *, method: str, route: str, status: int, seconds: float, tenant: str | None
    ) -> None:
        """Count one answered request and its latency (plain ints, read at scrape time)."""
        key = (method, route, status, tenant if self.tenant_labels else None)
        series = self._series.get(key)
        if series is None:
            series = self._series_of(method, route, status, key[3])
        series.counts[bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        series.total += seconds

    def _series_of(
        self, method: str, route: str, status: int, tenant: str | None
    ) -> _RequestSeries:
        """Make the series of a new label set; odd methods share one, so labels stay bounded."""
        if method not in _METHODS:
            method = "OTHER"
        key = (method, route, status, tenant)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _RequestSeries()
        return series

    def stream_opened(self, kind: str) -> None:
        """Count a stream as open."""
        self._open_streams.labels(kind=kind).inc()

    def stream_closed(self, kind: str) -> None:
        """Count a stream as closed."""
        self._open_streams.labels(kind=kind).dec()

    def committed(self, *, appends: int, events: int, seconds: float) -> None:
        """Take one committed transaction from the store (a StoreObserver)."""
        self._commit_seconds.observe(seconds)
        self._batch_size.observe(appends)

    def appended(self, *, events: int, seconds: float) -> None:
        """Take one committed append from the store (a StoreObserver)."""
        self._append_seconds.observe(seconds)

    def render(self) -> bytes:
        """Return every series in the Prometheus text format."""
        return generate_latest(self.registry)


def writer_stats(core: ChatCore) -> WriterStats | None:
    """Return the store's writer counters, when the store keeps them."""
    stats = getattr(core.store, "stats", None)
    return stats if isinstance(stats, WriterStats) else None


class _RequestSeries:
    """One label set's latency histogram (a count per bucket, +Inf last) and latency sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(_LATENCY_BUCKETS) + 1)
        self.total = 0.0


class _RequestCollector(Collector):
    """Turn the request series into the request counter and the latency histogram."""

    def __init__(
        self,
        series: dict[tuple[str, str, int, str | None], _RequestSeries],
        *,
        tenant_labels: bool,
    ) -> None:
        self._series = series
        self._tenant_labels = tenant_labels

    def collect(self) -> Iterator[Metric]:
        labels = ["method", "route", "status"]
        requests = CounterMetricFamily(
            "chat_core_http_requests",
            "HTTP requests answered, by route template and status.",
            labels=[*labels, "tenant"] if self._tenant_labels else labels,
        )
        latency = HistogramMetricFamily(
            "chat_core_http_request_duration_seconds",
            "Time from a request's arrival to its answer (streams: to their end).",
            labels=labels,
        )
        merged: dict[tuple[str, str, str], tuple[list[int], float]] = {}
        for (method, route, status, tenant), series in list(self._series.items()):
            key = (method, route, str(status))
            count = sum(series.counts)
            requests.add_metric([*key, tenant or ""] if self._tenant_labels else list(key), count)
            # The histogram has no tenant label: tenants of one label set add up.
            counts, total = merged.get(key, ([0] * len(series.counts), 0.0))
            summed = [a + b for a, b in zip(counts, series.counts, strict=True)]
            merged[key] = (summed, total + series.total)
        for key, (counts, total) in merged.items():
            buckets = list(zip(_BOUNDS, accumulate(counts), strict=True))
            latency.add_metric(list(key), buckets, total)
        yield requests
        yield latency


class _CoreCollector(Collector):
    """Read the store's and the token verifier's plain counters at scrape time."""

    def __init__(self, core: ChatCore) -> None:
        self._core = core

    def collect(self) -> Iterator[Metric]:
        stats = writer_stats(self._core)
        if stats is not None:
            yield _counter(
                "chat_core_events_appended", "Events committed to the log.", stats.events
            )
            yield _counter("chat_core_store_commits", "Transactions committed.", stats.commits)
            yield _counter("chat_core_store_appends", "Appends committed.", stats.appends)
        verifier = self._core.verifier
        hits, misses = verifier.cache_hits, verifier.cache_misses
        yield _counter("chat_core_token_cache_hits", "Tokens answered from the cache.", hits)
        yield _counter("chat_core_token_cache_misses", "Tokens verified in full.", misses)
        ratio = hits / (hits + misses) if hits + misses else 0.0
        yield GaugeMetricFamily(
            "chat_core_token_cache_hit_ratio", "Share of tokens answered from the cache.", ratio
        )
        source = verifier.key_source
        if source is not None:  # a JWKS file or URL, read again while the server runs
            yield _counter(
                "chat_core_jwks_fetches",
                "Reads or fetches of the JWKS: at start, on expiry, for an unknown kid, on SIGHUP.",
                source.fetches,
            )
            yield _counter(
                "chat_core_jwks_fetch_failures",
                "JWKS reads or fetches that failed, the last good keys serving on.",
                source.failures,
            )


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)
