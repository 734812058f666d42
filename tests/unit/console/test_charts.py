"""The Overview's charts as numbers: axis tops, where points go in the view box, what is said aloud."""

from __future__ import annotations

import pytest

from trainer_ops.console import charts
from trainer_ops.health.samples import Sample

NOW = 1_712_100_000.0


def sample(at: float, *, cpu: float = 0.0, median: float = 1.0, p95: float = 2.0) -> Sample:
    return Sample(
        at=at, cpu=cpu, memory=0.5, error_rate=0.0, timeouts=0, median_ms=median, p95_ms=p95, requests=1
    )


@pytest.mark.parametrize(
    ("value", "top"),
    [
        (0.0, 1.0),
        (0.3, 1.0),
        (1.0, 1.0),
        (1.2, 2.0),
        (2.1, 2.5),
        (3.0, 5.0),
        (7.0, 10.0),
        (862.0, 1000.0),
        (0.004, 1.0),
    ],
)
def test_the_axis_top_is_a_round_value_at_or_above_the_highest(value: float, top: float) -> None:
    assert charts.nice_top(value, 1.0) == pytest.approx(top)


def test_points_span_the_hour_with_the_newest_at_the_right_edge() -> None:
    drawn = charts.charts(
        [sample(NOW - 3600 + 1, cpu=0.0), sample(NOW - 1800, cpu=0.5), sample(NOW, cpu=1.0)],
        now=NOW,
        span_seconds=3600,
    )
    cpu = next(c for c in drawn if c.key == "cpu")
    assert (cpu.unit, cpu.top) == ("percent", "100")
    [line] = cpu.lines
    xs_ys = [tuple(float(v) for v in p.split(",")) for p in line.points.split()]
    left, right = charts.LEFT, charts.WIDTH - charts.RIGHT
    top, bottom = charts.TOP, charts.HEIGHT - charts.BOTTOM
    assert xs_ys[0] == pytest.approx((left, bottom), abs=0.2)
    assert xs_ys[1] == pytest.approx(((left + right) / 2, (top + bottom) / 2), abs=0.2)
    assert xs_ys[2] == pytest.approx((right, top), abs=0.2)
    assert line.last == pytest.approx((right, top))
    assert (line.now, line.low, line.high) == ("100", "0.00", "100")


def test_latency_has_a_median_and_a_p95_line() -> None:
    [latency] = [
        c
        for c in charts.charts([sample(NOW, median=3, p95=40)], now=NOW, span_seconds=3600)
        if c.key == "latency"
    ]
    assert [(line.name, line.now) for line in latency.lines] == [("median", "3.00"), ("p95", "40.0")]
    assert latency.top == "50.0"


def test_without_samples_every_chart_is_empty_and_draws_nothing() -> None:
    drawn = charts.charts([], now=NOW, span_seconds=3600)
    assert [c.key for c in drawn] == ["cpu", "memory", "error_rate", "timeouts", "latency"]
    assert all(c.empty and all(line.points == "" and line.last is None for line in c.lines) for c in drawn)
