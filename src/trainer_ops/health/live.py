"""What the console's live Overview reads besides health: samples for the charts, the slowest endpoints
and the engine instances this replica holds. In-memory only (no store query), so a page can ask every
few seconds."""

from __future__ import annotations

from dataclasses import dataclass

from trainer_ops.engines.instances import holds
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.health.samples import Reading, Sample, SampleRing
from trainer_ops.infra.metrics import RequestMetrics
from trainer_ops.infra.process import ProcessSampler


@dataclass(frozen=True)
class Endpoint:
    route: str
    calls: int
    mean_ms: float
    slow: bool  # above the threshold diagnostics lists in slowQueries


@dataclass(frozen=True)
class InstanceInfo:
    engine: str
    instance_id: str
    kind: str  # "local" (in this server's process) or "sdk" (an engine process on a stream here)
    replica: str
    active: str | None  # the ruleset it runs (None: nothing loaded, or not yet confirmed)
    since: float  # epoch seconds: the server's start (local) or the stream's connection (sdk)


class LiveVitals:
    def __init__(
        self,
        *,
        metrics: RequestMetrics,
        sampler: ProcessSampler,
        engines: EngineRegistry,
        ring: SampleRing,
        slow_endpoint_ms: float,
    ) -> None:
        self._metrics = metrics
        self._sampler = sampler
        self._engines = engines
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

    def instances(self) -> list[InstanceInfo]:
        """Every engine instance this replica holds: its in-process ones and the SDK clients whose
        streams are open here (other replicas list their own)."""
        replica = self._engines.replica_id
        found: list[InstanceInfo] = []
        for name in self._engines.names():
            slot = self._engines.slot(name)
            current = slot.local.current
            found.append(
                InstanceInfo(
                    name,
                    slot.local.instance_id,
                    "local",
                    replica,
                    current.target_id if current else None,
                    self._sampler.started_at,
                )
            )
            active = slot.active
            for other in list(slot.others):
                running = active.target_id if active is not None and holds(other, active) else None
                since = float(getattr(other, "connected_at", self._sampler.started_at))
                found.append(InstanceInfo(name, other.instance_id, "sdk", replica, running, since))
        return found
