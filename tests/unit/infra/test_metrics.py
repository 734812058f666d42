"""RequestMetrics: the rolling window behind health (median latency) and diagnostics (errors, endpoints)."""

from __future__ import annotations

import pytest

from trainer_ops.infra import metrics as metrics_module
from trainer_ops.infra.clock import FakeClock
from trainer_ops.infra.metrics import RequestMetrics


class FakeTime:
    """Stands in for the `time` module inside infra.metrics, which reads time.time() directly."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock.now()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    # Starts on a 10-second bucket boundary.
    fake = FakeClock(start=1_712_100_000.0)
    monkeypatch.setattr(metrics_module, "time", FakeTime(fake))
    return fake


@pytest.fixture
def window(clock: FakeClock) -> RequestMetrics:
    return RequestMetrics(window_seconds=300)


def observe(window: RequestMetrics, ms: float, *, route: str = "/r", status: int = 200) -> None:
    window.observe(method="GET", route=route, status=status, seconds=ms / 1000)


def test_empty_window_has_no_requests_no_median_and_no_error_rate(window: RequestMetrics) -> None:
    stats = window.window()

    assert (stats.count, stats.errors, stats.median_ms, stats.error_rate) == (0, 0, 0.0, 0.0)
    assert stats.endpoints == {}


@pytest.mark.parametrize(
    ("latencies", "median"),
    [
        ([3.0], 3.0),
        ([1.0, 2.0, 3.0, 100.0, 200.0], 3.0),
        ([10.0, 10.0, 500.0, 500.0], 10.0),
        ([0.01, 0.02, 0.03], 0.05),
    ],
)
def test_median_is_within_ten_percent_above_the_true_median(
    window: RequestMetrics, latencies: list[float], median: float
) -> None:
    for ms in latencies:
        observe(window, ms)

    assert median <= window.window().median_ms <= median * 1.1


def test_median_spans_buckets_of_the_whole_window(window: RequestMetrics, clock: FakeClock) -> None:
    for ms in (1.0, 1.0, 1.0):
        observe(window, ms)
    clock.advance(120)
    for ms in (50.0, 50.0):
        observe(window, ms)

    assert 1.0 <= window.window().median_ms <= 1.1


def test_error_rate_counts_only_server_errors(window: RequestMetrics) -> None:
    for status in (200, 201, 404, 422, 500, 503):
        observe(window, 1.0, status=status)

    stats = window.window()

    assert stats.errors == 2
    assert stats.error_rate == pytest.approx(2 / 6)


def test_endpoints_have_count_and_mean_latency(window: RequestMetrics, clock: FakeClock) -> None:
    observe(window, 10.0, route="/a")
    clock.advance(15)
    observe(window, 30.0, route="/a")
    observe(window, 5.0, route="/b")

    endpoints = window.window().endpoints

    assert endpoints.keys() == {"/a", "/b"}
    assert endpoints["/a"][0] == 2
    assert endpoints["/a"][1] == pytest.approx(20.0)
    assert endpoints["/b"][0] == 1
    assert endpoints["/b"][1] == pytest.approx(5.0)


def test_requests_stay_in_the_window_for_its_length(window: RequestMetrics, clock: FakeClock) -> None:
    observe(window, 1.0, status=500)
    clock.advance(299)

    assert window.window().count == 1


def test_old_buckets_fall_out_of_the_window(window: RequestMetrics, clock: FakeClock) -> None:
    observe(window, 900.0, route="/slow", status=500)
    clock.advance(200)
    observe(window, 2.0, route="/fast")
    clock.advance(110)

    stats = window.window()

    assert stats.count == 1
    assert stats.errors == 0
    assert stats.endpoints.keys() == {"/fast"}
    assert 2.0 <= stats.median_ms <= 2.2


def test_a_slot_reused_a_window_later_starts_empty(window: RequestMetrics, clock: FakeClock) -> None:
    observe(window, 1.0, route="/old")
    clock.advance(300)
    observe(window, 1.0, route="/new")

    stats = window.window()

    assert stats.count == 1
    assert stats.endpoints.keys() == {"/new"}


def test_everything_falls_out_after_a_long_idle_period(window: RequestMetrics, clock: FakeClock) -> None:
    for n in range(30):
        observe(window, 1.0)
        clock.advance(10 * (n % 3))
    clock.advance(3600)

    assert window.window().count == 0


def test_a_short_window_forgets_sooner(clock: FakeClock) -> None:
    short = RequestMetrics(window_seconds=60)
    observe(short, 1.0)
    clock.advance(65)

    assert short.window().count == 0


def test_timeouts_are_counted(window: RequestMetrics) -> None:
    window.count_timeout()
    window.count_timeout()

    assert window.timeouts == 2


def test_each_instance_has_its_own_prometheus_registry(clock: FakeClock) -> None:
    first, second = RequestMetrics(), RequestMetrics()
    observe(first, 1.0)

    assert first.registry is not second.registry
    assert (
        first.registry.get_sample_value(
            "trainer_ops_http_request_duration_seconds_count",
            {"method": "GET", "route": "/r", "status": "200"},
        )
        == 1.0
    )
