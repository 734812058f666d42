"""What the console's live Overview reads of this replica besides health: samples for the charts and the
slowest endpoints. In-memory only (no store query), so a page can ask every few seconds. (The fleet's
replicas and engine instances come from the store: engines/fleet.py, `Fleet.view`.)"""

from __future__ import annotations

from dataclasses import dataclass

from trainer_ops.health.samples import Reading, Sample, SampleRing
from trainer_ops.infra.metrics import RequestMetrics
from trainer_ops.infra.process import ProcessSampler


@dataclass(frozen=True)
class Endpoint:
    route: str
    calls: int
    mean_ms: float
    slow: bool  # above the threshold diagnostics lists in slowQueries


class LiveVitals:
    def __init__(
        self,
        *,
        metrics: RequestMetrics,
        sampler: ProcessSampler,
        ring: SampleRing,
        slow_endpoint_ms: float,
    ) -> None:
        self._metrics = metrics
        self._sampler = sampler
        self.ring = ring
        self._slow_ms = slow_endpoint_ms

    def record(self) -> Sample:
        """Take one sample from the sources health and diagnostics read (a periodic job calls this)."""
        window = self._metrics.window()
        return self.ring.record(
            Reading(
                cpu=self._sampler.cpu,
                memory=self._sampler.memory,
                error_rate=window.error_rate,
                timeouts_total=self._metrics.timeouts,
                median_ms=window.median_ms,
                p95_ms=window.p95_ms,
                requests=window.count,
            )
        )

    def slowest(self, limit: int = 8) -> list[Endpoint]:
        """The routes with the highest mean latency over the metrics window, slowest first."""
        window = self._metrics.window()
        ranked = sorted(window.endpoints.items(), key=lambda item: item[1][1], reverse=True)[:limit]
        return [Endpoint(route, calls, mean, mean > self._slow_ms) for route, (calls, mean) in ranked]
