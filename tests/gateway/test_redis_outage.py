"""Redis going away (the shared call limits and session leases) is a 503 the caller can retry, on the
routed and the fast path; never a 500, never a hang."""

from __future__ import annotations

import time

import httpx
import pytest

from conftest import LiveServer
from trainer_ops.config import Settings

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Nothing listens on port 1: Redis is down from the start.
    return settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})


def test_calls_and_sessions_answer_503_while_redis_is_down(live_server: LiveServer) -> None:
    server = live_server.start()
    headers = {"Authorization": f"Bearer {server.settings.bootstrap_admin_token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        for _ in range(2):  # the second call is answered from the token cache where the settings allow
            started = time.monotonic()
            call = client.post(
                "/v1/chat/completions", json={"model": "x", "messages": [{"role": "user", "content": "hi"}]}
            )
            assert call.status_code == 503, call.text
            assert call.headers["retry-after"] == "1"
            assert "Redis" in call.text
            assert time.monotonic() - started < 5
        session = client.post("/v1/sessions", json={})
        assert session.status_code == 503, session.text
