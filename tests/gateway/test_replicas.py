"""Two replicas sharing the store and Redis: the limits hold for the deployment, not per replica."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import openai
import pytest
import redis

from conftest import LiveServer
from trainer_ops.config import Settings

from .conftest import _OPEN

USER = [{"role": "user", "content": "hi"}]
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def replicas(settings: Settings) -> Iterator[tuple[LiveServer, LiveServer]]:
    prefix = f"trainer-ops-test-{uuid.uuid4().hex[:8]}"
    shared = settings.model_copy(
        update={"redis_url": REDIS_URL, "redis_prefix": prefix, "snapshot_poll_seconds": 0.2}
    )
    first = LiveServer(shared).start()
    second = LiveServer(shared).start()
    yield first, second
    first.stop()
    second.stop()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def test_rate_limit_is_exact_across_two_replicas(replicas, token_for) -> None:
    first, second = replicas
    headers = {"Authorization": f"Bearer {first.settings.bootstrap_admin_token}"}
    assert (
        httpx.patch(
            f"{first.url}/operator/ops/limits", json={"aiCallsPerMinute": 4}, headers=headers
        ).status_code
        == 200
    )
    # The other replica learns of the change from the store within its poll interval.
    deadline = __import__("time").monotonic() + 5
    while second.ops.holder.current.get("limits").document["aiCallsPerMinute"] != 4:
        assert __import__("time").monotonic() < deadline
        __import__("time").sleep(0.05)
    token = token_for("service", user=f"engine-{uuid.uuid4().hex[:6]}")
    clients = [openai.OpenAI(api_key=token, base_url=f"{s.url}/v1", max_retries=0) for s in (first, second)]
    for client in clients:
        _OPEN.append(client)
    allowed = refused = 0
    for i in range(10):
        try:
            clients[i % 2].chat.completions.create(model="x", messages=USER)
            allowed += 1
        except openai.RateLimitError:
            refused += 1
    assert (allowed, refused) == (4, 6)


def test_session_limit_is_deployment_wide(replicas) -> None:
    first, second = replicas
    headers = {"Authorization": f"Bearer {first.settings.bootstrap_admin_token}"}
    httpx.patch(f"{first.url}/operator/ops/limits", json={"maxConcurrentSessions": 3}, headers=headers)
    import time

    deadline = time.monotonic() + 5
    while second.ops.holder.current.get("limits").document["maxConcurrentSessions"] != 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    codes = [
        httpx.post(f"{(first, second)[i % 2].url}/v1/sessions", headers=headers).status_code for i in range(5)
    ]
    assert codes == [201, 201, 201, 429, 429]
