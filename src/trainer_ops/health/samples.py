"""The last hour of this process's vital signs: a bounded ring of samples taken every few seconds.

Per replica on purpose: each replica samples itself (its CPU, memory and the requests it answered), so
the Overview says "this server". Pure: the caller measures, the ring keeps and ages samples by its clock.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from trainer_ops.infra.clock import Clock

SAMPLE_SECONDS = 10.0
HISTORY_SECONDS = 3600.0


@dataclass(frozen=True)
class Sample:
    at: float  # epoch seconds
    cpu: float  # share of all cores, 0..1
    memory: float  # resident memory as a share of the machine's, 0..1
    error_rate: float  # server faults / requests over the metrics window (as diagnostics reports)
    timeouts: int  # upstream timeouts since the previous sample
    median_ms: float  # over the metrics window, as health's latencyMs
    p95_ms: float
    requests: int  # requests in the metrics window


@dataclass(frozen=True)
class Reading:
    """What one measurement found; `timeouts` is the process's running total (the ring takes deltas)."""

    cpu: float
    memory: float
    error_rate: float
    timeouts_total: int
    median_ms: float
    p95_ms: float
    requests: int


class SampleRing:
    """At most `history / every` samples (360 for an hour at 10 s), oldest dropped first. Thread-safe:
    recorded from the event loop, read from request threads."""

    def __init__(
        self, *, clock: Clock, every_seconds: float = SAMPLE_SECONDS, history_seconds: float = HISTORY_SECONDS
    ) -> None:
        if every_seconds <= 0 or history_seconds < every_seconds:
            raise ValueError("every_seconds must be positive and at most history_seconds")
        self.every_seconds = every_seconds
        self.history_seconds = history_seconds
        self.capacity = int(history_seconds // every_seconds)
        self._clock = clock
        self._samples: deque[Sample] = deque(maxlen=self.capacity)
        self._last_timeouts: int | None = None
        self._lock = threading.Lock()
        self.taken = 0  # samples ever recorded: a page shows it to tell a fresh chart from a stale one

    def record(self, reading: Reading) -> Sample:
        now = self._clock.now()
        with self._lock:
            previous = self._last_timeouts
            # The first sample has no previous total: it counts nothing rather than everything so far.
            delta = 0 if previous is None else max(0, reading.timeouts_total - previous)
            self._last_timeouts = reading.timeouts_total
            sample = Sample(
                at=now,
                cpu=reading.cpu,
                memory=reading.memory,
                error_rate=reading.error_rate,
                timeouts=delta,
                median_ms=reading.median_ms,
                p95_ms=reading.p95_ms,
                requests=reading.requests,
            )
            self._samples.append(sample)
            self.taken += 1
        return sample

    def samples(self) -> list[Sample]:
        """The samples of the last `history_seconds`, oldest first (a process that was paused, or a
        clock that jumped, leaves older ones in the ring: they are not shown as recent)."""
        cutoff = self._clock.now() - self.history_seconds
        with self._lock:
            return [s for s in self._samples if s.at > cutoff]
