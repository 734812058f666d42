"""The Overview's ring of samples: bounded to an hour, aged by its clock, timeouts as deltas."""

from __future__ import annotations

import pytest

from trainer_ops.health.samples import Reading, SampleRing
from trainer_ops.infra.clock import FakeClock


def reading(*, cpu: float = 0.1, timeouts: int = 0) -> Reading:
    return Reading(
        cpu=cpu, memory=0.2, error_rate=0.01, timeouts_total=timeouts, median_ms=3.0, p95_ms=9.0, requests=5
    )


def test_an_hour_at_ten_seconds_keeps_360_samples_and_drops_the_oldest_first() -> None:
    clock = FakeClock()
    ring = SampleRing(clock=clock)
    assert ring.capacity == 360
    for i in range(400):
        clock.advance(10)
        ring.record(reading(cpu=i / 1000))
    kept = ring.samples()
    assert len(kept) == 360
    assert kept[0].cpu == pytest.approx(40 / 1000)  # the first 40 fell out
    assert kept[-1].cpu == pytest.approx(399 / 1000)
    assert [s.at for s in kept] == sorted(s.at for s in kept)
    assert ring.taken == 400


def test_samples_older_than_the_history_are_not_shown_after_a_pause() -> None:
    clock = FakeClock()
    ring = SampleRing(clock=clock, every_seconds=10, history_seconds=60)
    for _ in range(3):
        clock.advance(10)
        ring.record(reading())
    clock.advance(45)  # the newest is 45 s old, the oldest 65 s
    assert len(ring.samples()) == 2
    clock.advance(3600)
    assert ring.samples() == []


def test_timeouts_are_counted_per_sample_from_the_running_total() -> None:
    clock = FakeClock()
    ring = SampleRing(clock=clock)
    first = ring.record(reading(timeouts=7))  # seven before the first sample: not this sample's
    second = ring.record(reading(timeouts=9))
    third = ring.record(reading(timeouts=9))
    assert (first.timeouts, second.timeouts, third.timeouts) == (0, 2, 0)


def test_a_sample_carries_its_reading_and_the_clock_time() -> None:
    clock = FakeClock(1_000.0)
    sample = SampleRing(clock=clock).record(reading(cpu=0.5))
    got = (sample.at, sample.cpu, sample.memory, sample.median_ms, sample.p95_ms)
    assert got == (1000.0, 0.5, 0.2, 3.0, 9.0)


@pytest.mark.parametrize(("every", "history"), [(0, 60), (-1, 60), (120, 60)])
def test_an_impossible_interval_is_refused(every: float, history: float) -> None:
    with pytest.raises(ValueError, match="every_seconds"):
        SampleRing(clock=FakeClock(), every_seconds=every, history_seconds=history)
