"""Request measurements: a rolling window for health/diagnostics, and Prometheus metrics for /metrics.

The window keeps one bucket per 10 seconds; each bucket holds a log-scale latency histogram, so the
median over the last five minutes costs a few hundred additions to compute and nothing per request
beyond a handful of integer increments.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

BUCKET_SECONDS = 10
# Histogram bins: bin i covers latencies up to 0.05 ms * 1.1**i (about 10% resolution, 0.05 ms to ~10 min).
BIN_BASE_MS = 0.05
BIN_GROWTH = 1.1
BINS = 180
_LOG_GROWTH = math.log(BIN_GROWTH)


def _bin_of(ms: float) -> int:
    if ms <= BIN_BASE_MS:
        return 0
    return min(BINS - 1, int(math.log(ms / BIN_BASE_MS) / _LOG_GROWTH) + 1)


def _bin_upper_ms(index: int) -> float:
    return float(BIN_BASE_MS * BIN_GROWTH**index)


@dataclass
class _Bucket:
    start: int
    count: int = 0
    errors: int = 0
    bins: list[int] = field(default_factory=lambda: [0] * BINS)
    # endpoint -> [count, total ms]
    endpoints: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowStats:
    count: int
    errors: int  # server faults only: see RequestMetrics.observe
    median_ms: float
    endpoints: dict[str, tuple[int, float]]  # endpoint -> (count, mean ms)
    p95_ms: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0


class RequestMetrics:
    def __init__(self, *, window_seconds: int = 300, registry: CollectorRegistry | None = None) -> None:
        self.window_seconds = window_seconds
        self._size = max(1, window_seconds // BUCKET_SECONDS)
        self._buckets: list[_Bucket | None] = [None] * self._size
        self._lock = threading.Lock()
        self.timeouts = 0
        self.registry = registry or CollectorRegistry()
        self._prom_latency = Histogram(
            "trainer_ops_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        # Labelled children, looked up once per (method, route, status) instead of on every request.
        self._children: dict[tuple[str, str, int], Any] = {}
        self._prom_timeouts = Counter(
            "trainer_ops_upstream_timeouts_total", "Calls that timed out upstream", registry=self.registry
        )

    def observe(
        self, *, method: str, route: str, status: int, seconds: float, fault: bool | None = None
    ) -> None:
        """One answered request. `fault`: whether it counts toward the error rate (the edge decides;
        a deliberate 5xx refusal is not a fault); None counts every 5xx."""
        ms = seconds * 1000.0
        if fault is None:
            fault = status >= 500
        now = int(time.time())
        start = now - now % BUCKET_SECONDS
        slot = (start // BUCKET_SECONDS) % self._size
        with self._lock:
            bucket = self._buckets[slot]
            if bucket is None or bucket.start != start:
                bucket = _Bucket(start)
                self._buckets[slot] = bucket
            bucket.count += 1
            if fault:
                bucket.errors += 1
            bucket.bins[_bin_of(ms)] += 1
            acc = bucket.endpoints.get(route)
            if acc is None:
                bucket.endpoints[route] = [1, ms]
            else:
                acc[0] += 1
                acc[1] += ms
        key = (method, route, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._prom_latency.labels(method, route, str(status))
        child.observe(seconds)

    def count_timeout(self) -> None:
        with self._lock:
            self.timeouts += 1
        self._prom_timeouts.inc()

    def window(self) -> WindowStats:
        cutoff = int(time.time()) - self.window_seconds
        count = errors = 0
        bins = [0] * BINS
        endpoints: dict[str, list[float]] = {}
        with self._lock:
            live = [b for b in self._buckets if b is not None and b.start > cutoff]
            for bucket in live:
                count += bucket.count
                errors += bucket.errors
                for i, n in enumerate(bucket.bins):
                    if n:
                        bins[i] += n
                for name, (calls, total) in bucket.endpoints.items():
                    acc = endpoints.setdefault(name, [0, 0.0])
                    acc[0] += calls
                    acc[1] += total
        return WindowStats(
            count=count,
            errors=errors,
            median_ms=_percentile(bins, count, 0.5),
            p95_ms=_percentile(bins, count, 0.95),
            endpoints={name: (int(n), total / n) for name, (n, total) in endpoints.items() if n},
        )


def _percentile(bins: list[int], count: int, q: float) -> float:
    if count == 0:
        return 0.0
    rank = math.ceil(q * count)
    seen = 0
    for i, n in enumerate(bins):
        seen += n
        if seen >= rank:
            return _bin_upper_ms(i)
    return _bin_upper_ms(BINS - 1)
