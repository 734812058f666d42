"""The access log: one JSON line on stdout per request, routed or answered by a fast path, 4xx too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, auth
from trainer_ops.app import Ops, build_ops, create_app
from trainer_ops.config import Settings

FIELDS = {"time", "level", "logger", "requestId", "user", "method", "route", "status", "durationMs"}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ADMIN = "bootstrap-admin"


def lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The access log lines written to stdout (file descriptor 1) since the last call."""
    out = capfd.readouterr().out
    return [orjson.loads(line) for line in out.splitlines() if '"logger":"access"' in line]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The access log is on by default; tests/conftest.py turns it off for every other test."""
    return settings.model_copy(update={"access_log": True})


@pytest.fixture
def cached(settings: Settings) -> Iterator[tuple[TestClient, Ops]]:
    """An app that caches tokens, the admin's already cached: the hot reads and gateway calls take the
    fast paths. Their routes are removed, so an answer can only have come from a fast path."""
    tuned = settings.model_copy(update={"token_cache_seconds": 60})
    ops = build_ops(tuned)
    app = create_app(tuned, ops=ops)
    fast = {("GET", "/operator/ops/features"), ("POST", "/v1/chat/completions")}
    app.router.routes = [
        r
        for r in app.router.routes
        if not any((m, getattr(r, "path", "")) in fast for m in getattr(r, "methods", ()) or ())
    ]
    try:
        with TestClient(app) as client:
            ops.authenticator.authenticate(f"Bearer {ADMIN_TOKEN}")
            client.headers.update(auth(ADMIN_TOKEN))
            yield client, ops
    finally:
        ops.close()


def test_a_routed_request_is_one_line_with_the_route_template(
    client: TestClient, capfd: pytest.CaptureFixture[str]
) -> None:
    lines(capfd)
    response = client.patch(
        "/operator/ops/features/quiz_auto_generate", json={"enabled": False}, headers={"X-Request-Id": "t-1"}
    )
    assert response.status_code == 200, response.text

    [line] = lines(capfd)
    assert line.keys() == FIELDS
    assert TIME.match(line["time"]), line["time"]
    assert (line["level"], line["logger"]) == ("info", "access")
    assert line["requestId"] == response.headers["x-request-id"] == "t-1"
    assert line["user"] == ADMIN
    assert (line["method"], line["route"], line["status"]) == (
        "PATCH",
        "/operator/ops/features/{featureKey}",
        200,
    )
    assert isinstance(line["durationMs"], float)
    assert line["durationMs"] > 0


def test_4xx_answers_are_logged_and_no_token_or_body_ever_is(
    client: TestClient, capfd: pytest.CaptureFixture[str]
) -> None:
    lines(capfd)
    unknown = client.get("/operator/ops/limits", headers=auth("tops_not-a-real-token-000"))
    invalid = client.patch("/operator/ops/limits", json={"aiCallsPerMinute": "secret-body-value"})
    missing = client.get("/operator/ops/no-such-thing?token=query-secret")
    out = capfd.readouterr().out

    logged = [orjson.loads(line) for line in out.splitlines() if '"logger":"access"' in line]
    assert [(x["route"], x["status"], x["user"]) for x in logged] == [
        ("/operator/ops/limits", 401, None),  # nobody was authenticated
        ("/operator/ops/limits", 422, ADMIN),
        ("unmatched", 404, None),
    ]
    assert [x["requestId"] for x in logged] == [
        r.headers["x-request-id"] for r in (unknown, invalid, missing)
    ]
    for secret in ("tops_not-a-real-token-000", ADMIN_TOKEN, "secret-body-value", "query-secret"):
        assert secret not in out


def test_fast_path_read_and_gateway_call_are_logged(
    cached: tuple[TestClient, Ops], capfd: pytest.CaptureFixture[str]
) -> None:
    client, _ = cached
    lines(capfd)
    read = client.get("/operator/ops/features")
    call = client.post(
        "/v1/chat/completions", json={"model": "gpt-5.1", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert (read.status_code, call.status_code) == (200, 200), call.text

    logged = lines(capfd)
    assert [(x["method"], x["route"], x["status"], x["user"]) for x in logged] == [
        ("GET", "/operator/ops/features", 200, ADMIN),
        ("POST", "/v1/chat/completions", 200, ADMIN),
    ]
    assert [x["requestId"] for x in logged] == [read.headers["x-request-id"], call.headers["x-request-id"]]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_access_log_off_writes_nothing_and_text_is_one_line(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    for update, expected in (({"access_log": False}, 0), ({"log_format": "text"}, 1)):
        tuned = settings.model_copy(update=update)
        ops = build_ops(tuned)
        try:
            with TestClient(create_app(tuned, ops=ops)) as client:
                capfd.readouterr()
                client.get("/operator/ops/limits", headers={**auth(ADMIN_TOKEN), "X-Request-Id": "t-2"})
                out = capfd.readouterr().out.splitlines()
        finally:
            ops.close()
        assert len(out) == expected, out
    [text] = out
    assert re.fullmatch(
        r"\S+Z INFO access GET /operator/ops/limits 200 user=\"bootstrap-admin\" \d+\.\d{3}ms requestId=t-2",
        text,
    ), text
