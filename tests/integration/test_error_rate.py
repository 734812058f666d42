"""Health cannot be faked from outside: only server faults count toward `errorRate` and `degraded`.
Bad requests of every kind, clients that leave, and deliberate 5xx refusals count as none; a real
500 still does."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from trainer_ops.access.types import Role
from trainer_ops.app import Ops, create_app
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings
from trainer_ops.health.service import MIN_REQUESTS_FOR_ERROR_RATE

from .support import (
    ADMIN_TOKEN,
    DIAGNOSTICS,
    HEALTH,
    MODEL_CONFIG,
    app_client,
    assert_problem,
    bearer,
    lenient,
    serving,
)

CHAT = "/v1/chat/completions"


def raw(line: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    return b"\r\n".join([line, b"Host: t", *headers, b"", body])


# (kind, the raw request, whether the client leaves before its answer). All anonymous but the last:
# a caller who leaves mid-body is past authentication when the body read fails.
BAD_REQUESTS: list[tuple[str, bytes, bool]] = [
    ("non-utf8-envelope", raw(b"GET /operator/ops/health HTTP/1.1", b"X-Envelope: \xff\xfe"), False),
    ("non-utf8-token", raw(b"GET /operator/ops/health HTTP/1.1", b"Authorization: Bearer \xff"), False),
    ("bad-token", raw(b"GET /operator/ops/features HTTP/1.1", b"Authorization: Bearer tops_no"), False),
    ("forged-jwt", raw(b"GET /operator/ops/limits HTTP/1.1", b"Authorization: Bearer e30.e30.x"), False),
    ("not-found", raw(b"GET /operator/ops/no-such-thing HTTP/1.1"), False),
    ("method", raw(b"DELETE /operator/ops/model-config HTTP/1.1"), False),
    ("too-large", raw(b"PATCH /operator/ops/model-config HTTP/1.1", b"Content-Length: 99999999"), False),
    ("chat", raw(b"POST /v1/chat/completions HTTP/1.1", b"Content-Length: 1", body=b"{"), False),
    ("leaves-early", raw(b"GET /operator/ops/health HTTP/1.1"), True),
    (
        "caller-leaves-mid-body",
        raw(
            b"POST /v1/chat/completions HTTP/1.1",
            b"Authorization: Bearer {token}",
            b"Content-Type: application/json",
            b"Content-Length: 500",
            body=b"{",
        ),
        True,
    ),
]


@pytest.fixture
def live_app(settings: Settings, ops: Ops) -> Iterator[tuple[FastAPI, tuple[str, int]]]:
    """The app under uvicorn on a free port of 127.0.0.1 (a real server: clients can really leave)."""
    app = create_app(settings, ops=ops)
    with serving(app) as address:
        yield app, address


def send_raw(address: tuple[str, int], request: bytes, *, leave: bool) -> None:
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(request)
        if not leave:
            assert conn.recv(12).startswith(b"HTTP/1.1 4"), request


def admin_reports(address: tuple[str, int]) -> tuple[str, float]:
    """(health status, errorRate), as the admin reads them from the same server."""
    with httpx.Client(base_url=f"http://{address[0]}:{address[1]}", headers=bearer(ADMIN_TOKEN)) as admin:
        return admin.get(HEALTH).json()["status"], admin.get(DIAGNOSTICS).json()["errorRate"]


def test_forty_bad_requests_from_outside_and_clients_that_leave_leave_health_ok(
    live_app: tuple[FastAPI, tuple[str, int]], ops: Ops
) -> None:
    app, address = live_app
    branch = ops.write(
        lambda session: ops.tokens.create(
            session,
            actor=SYSTEM_ACTOR,
            role=Role.BRANCH,
            user_id="b-user",
            region=None,
            country=None,
            branch="B-1",
        )
    )
    for _round in range(4):
        for _kind, request, leave in BAD_REQUESTS:
            send_raw(address, request.replace(b"{token}", branch.token.encode()), leave=leave)
    deadline = time.monotonic() + 10
    while app.state.metrics.window().count < 40:  # a request that was left is measured when it ends
        assert time.monotonic() < deadline, app.state.metrics.window()
        time.sleep(0.02)

    stats = app.state.metrics.window()
    assert (stats.count, stats.errors) == (40, 0)
    assert admin_reports(address) == ("ok", 0.0)


def test_calls_refused_because_the_ai_is_switched_off_are_not_faults(settings: Settings) -> None:
    """503 gateway.disabled is an operator's decision: neither the routed path (the first call of a
    token) nor the fast path (a cached caller) counts it toward the error rate."""
    with app_client(settings.model_copy(update={"token_cache_seconds": 60})) as client:
        assert client.patch(MODEL_CONFIG, json={"enabled": False}).status_code == 200
        call = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(MIN_REQUESTS_FOR_ERROR_RATE + 5):
            refused = client.post(CHAT, json=call)
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "gateway.disabled"  # /v1: OpenAI's error object

        assert client.get(DIAGNOSTICS).json()["errorRate"] == 0
        assert client.get(HEALTH).json()["status"] == "ok"


def test_a_real_server_error_still_counts_and_turns_health_degraded(settings: Settings) -> None:
    with app_client(settings) as client:
        app = client.app
        assert isinstance(app, FastAPI)

        def broken() -> None:
            raise RuntimeError("a bug")

        app.add_api_route("/operator/ops/broken", broken)
        server = lenient(client)
        for _ in range(MIN_REQUESTS_FOR_ERROR_RATE):
            assert_problem(server.get("/operator/ops/broken"), 500, code="INTERNAL_ERROR")

        assert client.get(DIAGNOSTICS).json()["errorRate"] > 0.9
        assert client.get(HEALTH).json()["status"] == "degraded"
