"""Health and diagnostics (spec section 5), views per role, and the orchestrator endpoints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops
from trainer_ops.config import Settings

from .support import DIAGNOSTICS, HEALTH, MODEL_CONFIG, app_client, assert_problem, bearer, check_each

TokenFor = Callable[..., str]
ENGINES = {"scenario", "prompt", "difficulty", "content", "gamification", "missions", "upm", "insights"}


def test_admin_health_has_status_latency_uptime_and_every_engine(client: TestClient) -> None:
    response = client.get(HEALTH)

    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok"
    assert isinstance(health["latencyMs"], int | float)
    assert health["latencyMs"] >= 0
    assert isinstance(health["uptimeHours"], int | float)
    assert 0 <= health["uptimeHours"] < 1
    assert health["engines"] == dict.fromkeys(ENGINES, "ok")


def test_health_view_depends_on_the_role_and_diagnostics_are_admin_only(
    client: TestClient, token_for: TokenFor
) -> None:
    engines = dict.fromkeys(ENGINES, "ok")
    cases = {
        "region": (token_for("region", region="EU"), {"status": "ok", "engines": engines}),
        "country": (token_for("country", country="KR"), {"status": "ok", "engines": engines}),
        "branch": (token_for("branch", branch="B-1"), {"status": "ok"}),
        "team": (token_for("team", branch="B-1"), {"status": "ok"}),
    }

    def check(case: tuple[str, dict[str, Any]]) -> None:
        token, expected = case
        response = client.get(HEALTH, headers=bearer(token))
        assert response.status_code == 200
        assert response.json() == expected
        assert_problem(client.get(DIAGNOSTICS, headers=bearer(token)), 403, code="INVALID_SCOPE")

    check_each(cases.items(), check)
    assert_problem(client.get(HEALTH, headers={"Authorization": ""}), 401, code="UNAUTHORIZED")


def test_admin_diagnostics_reports_numeric_measurements(client: TestClient) -> None:
    response = client.get(DIAGNOSTICS)

    assert response.status_code == 200
    report = response.json()
    assert set(report) >= {"cpu", "memory", "errorRate", "timeouts", "slowQueries"}
    for key in ("cpu", "memory", "errorRate"):
        assert isinstance(report[key], float), key
        assert 0 <= report[key] <= 1, key
    assert report["memory"] > 0  # this very process uses memory
    assert isinstance(report["timeouts"], int)
    assert not isinstance(report["timeouts"], bool)
    assert isinstance(report["slowQueries"], list)


@pytest.fixture
def slow_threshold_client(settings: Settings) -> Iterator[TestClient]:
    """Every endpoint counts as slow: the threshold is 0 ms."""
    with app_client(settings.model_copy(update={"slow_endpoint_ms": 0.0})) as client:
        yield client


def test_diagnostics_slow_queries_come_from_measured_requests(slow_threshold_client: TestClient) -> None:
    for _ in range(3):
        assert slow_threshold_client.get(MODEL_CONFIG).status_code == 200

    report = slow_threshold_client.get(DIAGNOSTICS).json()

    slow = {item["endpoint"]: item["avgMs"] for item in report["slowQueries"]}
    assert MODEL_CONFIG in slow
    assert all(isinstance(ms, float) and ms > 0 for ms in slow.values())


def test_probes_and_metrics_answer_without_token(client: TestClient) -> None:
    client.get(MODEL_CONFIG)
    anonymous = {"Authorization": ""}

    livez = client.get("/livez", headers=anonymous)
    readyz = client.get("/readyz", headers=anonymous)
    response = client.get("/metrics", headers=anonymous)

    assert (livez.status_code, livez.json()) == (200, {"status": "ok"})
    assert (readyz.status_code, readyz.json()) == (200, {"status": "ok"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "trainer_ops_http_request_duration_seconds_bucket" in response.text
    assert 'route="/operator/ops/model-config"' in response.text


def test_health_stays_ok_after_ten_seconds_when_store_polling_is_disabled(
    client: TestClient, ops: Ops
) -> None:
    # With polling off nothing refreshes the store check after start; health must not then report
    # "down" for a store that answers. Backdating the last check stands for 11 s of uptime
    # (the refresher stamps last_ok with time.time()).
    assert client.get(HEALTH).json()["status"] == "ok"
    assert ops.refresher.last_ok is not None
    ops.refresher.last_ok -= 11

    assert client.get(HEALTH).json()["status"] == "ok"
