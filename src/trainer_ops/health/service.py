"""Health and diagnostics reports, built from the request window, the process sampler, the engine
registry and the store check. Nothing here is writable."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.health.live import LiveVitals
from trainer_ops.health.samples import SampleRing
from trainer_ops.infra.clock import SystemClock
from trainer_ops.infra.metrics import RequestMetrics
from trainer_ops.infra.process import ProcessSampler

# Health turns `degraded` when more than this share of recent requests were server faults (a 5xx the
# server is to blame for; never a 4xx, a client that left, or a deliberate refusal: http/middleware.py).
DEGRADED_ERROR_RATE = 0.05
MIN_REQUESTS_FOR_ERROR_RATE = 20


class HealthService:
    def __init__(
        self,
        *,
        metrics: RequestMetrics,
        sampler: ProcessSampler,
        engines: EngineRegistry,
        store_ok: Callable[[], bool],
        probe_store: Callable[[], bool],
        slow_endpoint_ms: float,
        samples: SampleRing | None = None,
    ) -> None:
        self._metrics = metrics
        self._sampler = sampler
        self._engines = engines
        self._store_ok = store_ok
        self._probe_store = probe_store
        self._slow_ms = slow_endpoint_ms
        # The console Overview's live part: the last hour of samples, slowest routes.
        self.live = LiveVitals(
            metrics=metrics,
            sampler=sampler,
            ring=samples or SampleRing(clock=SystemClock()),
            slow_endpoint_ms=slow_endpoint_ms,
        )

    def health(self, view: str) -> dict[str, Any]:
        """view: `status` (branch), `engines` (country, region) or `full` (admin). May probe the store
        (when no recent check answered), so call it off the event loop."""
        window = self._metrics.window()
        engines = self._engines.statuses()
        store_ok = self._store_ok() or self._probe_store()
        if not store_ok:
            status = "down"
        elif any(s != "ok" for s in engines.values()) or (
            window.count >= MIN_REQUESTS_FOR_ERROR_RATE and window.error_rate > DEGRADED_ERROR_RATE
        ):
            status = "degraded"
        else:
            status = "ok"
        report: dict[str, Any] = {"status": status}
        if view == "status":
            return report
        if view == "full":
            report["latencyMs"] = round(window.median_ms, 1)
            report["uptimeHours"] = round((time.time() - self._sampler.started_at) / 3600, 2)
        report["engines"] = engines
        return report

    def active_rulesets(self) -> dict[str, str | None]:
        """Each engine's active ruleset (its target id; None before one is loaded), for full views."""
        return self._engines.active()

    def diagnostics(self) -> dict[str, Any]:
        window = self._metrics.window()
        slowest = sorted(
            ((mean, name) for name, (_count, mean) in window.endpoints.items() if mean > self._slow_ms),
            reverse=True,
        )
        slow = [{"endpoint": name, "avgMs": round(mean, 1)} for mean, name in slowest]
        return {
            "cpu": round(self._sampler.cpu, 3),
            "memory": round(self._sampler.memory, 3),
            "errorRate": round(window.error_rate, 4),
            "timeouts": self._metrics.timeouts,
            "slowQueries": slow,
        }
