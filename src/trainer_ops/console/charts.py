"""Line charts of the Overview's samples as plain numbers for an inline SVG (no chart library, no
script): where each point goes in a fixed view box, the axis top, and the figures a screen reader hears."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from trainer_ops.health.samples import Sample

# The SVG's view box; CSS scales it to the card's width.
WIDTH, HEIGHT = 600, 150
LEFT, RIGHT, TOP, BOTTOM = 66, 10, 12, 24
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Line:
    name: str  # message key suffix of the series (`cpu`, `median`, `p95`, ...)
    points: str  # the polyline's `points`
    now: str | None  # the newest value, formatted (None: no samples)
    low: str | None
    high: str | None
    last: tuple[float, float] | None  # where the newest point is: marked, visible with few samples


@dataclass(frozen=True)
class Chart:
    key: str  # `cpu`, `memory`, `error_rate`, `timeouts`, `latency`
    unit: str  # `percent`, `ms` or `count`: how values are worded
    top: str  # the y axis' top value, formatted
    lines: tuple[Line, ...]

    @property
    def empty(self) -> bool:
        return all(line.now is None for line in self.lines)


SERIES: tuple[tuple[str, str, float, tuple[tuple[str, Callable[[Sample], float]], ...]], ...] = (
    ("cpu", "percent", 1.0, (("cpu", lambda s: s.cpu * 100),)),
    ("memory", "percent", 1.0, (("memory", lambda s: s.memory * 100),)),
    ("error_rate", "percent", 1.0, (("error_rate", lambda s: s.error_rate * 100),)),
    ("timeouts", "count", 1.0, (("timeouts", lambda s: float(s.timeouts)),)),
    ("latency", "ms", 1.0, (("median", lambda s: s.median_ms), ("p95", lambda s: s.p95_ms))),
)


def charts(samples: Sequence[Sample], *, now: float, span_seconds: float) -> list[Chart]:
    """One chart per measure over [now - span, now]; the newest sample sits at the right edge."""
    return [
        _chart(key, unit, floor, series, samples, now=now, span=span_seconds)
        for key, unit, floor, series in SERIES
    ]


def nice_top(value: float, floor: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above `value` (and `floor`)."""
    value = max(value, floor)
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10.0 * power  # pragma: no cover (the loop always returns)


def figure(value: float, unit: str) -> str:
    if unit == "count":
        return str(round(value))
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _chart(
    key: str,
    unit: str,
    floor: float,
    series: tuple[tuple[str, Callable[[Sample], float]], ...],
    samples: Sequence[Sample],
    *,
    now: float,
    span: float,
) -> Chart:
    values = {name: [pick(s) for s in samples] for name, pick in series}
    top = nice_top(max((v for vs in values.values() for v in vs), default=0.0), floor)
    lines = []
    for name, _ in series:
        points = " ".join(
            f"{_x(s.at, now, span):.1f},{_y(v, top):.1f}" for s, v in zip(samples, values[name], strict=True)
        )
        found = values[name]
        last = (_x(samples[-1].at, now, span), _y(found[-1], top)) if found else None
        lines.append(
            Line(
                name,
                points,
                figure(found[-1], unit) if found else None,
                figure(min(found), unit) if found else None,
                figure(max(found), unit) if found else None,
                last,
            )
        )
    return Chart(key, unit, figure(top, unit), tuple(lines))


def _x(at: float, now: float, span: float) -> float:
    share = min(1.0, max(0.0, (at - (now - span)) / span))
    return LEFT + share * PLOT_W


def _y(value: float, top: float) -> float:
    share = min(1.0, max(0.0, value / top))
    return TOP + (1 - share) * PLOT_H
