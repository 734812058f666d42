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


def wait_for_limits(server: LiveServer, **values: int) -> None:
    """Until `server` has heard of the limits change (from the store, within its poll interval)."""
    import time

    deadline = time.monotonic() + 5
    assert server.ops is not None
    while any(server.ops.holder.current.get("limits").document[k] != v for k, v in values.items()):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_session_limit_is_deployment_wide(replicas, token_for) -> None:
    first, second = replicas
    headers = {"Authorization": f"Bearer {first.settings.bootstrap_admin_token}"}
    httpx.patch(f"{first.url}/operator/ops/limits", json={"maxConcurrentSessions": 3}, headers=headers)
    wait_for_limits(second, maxConcurrentSessions=3)
    # One session per user: only the deployment-wide cap can refuse.
    tokens = [token_for("branch", user=f"trainee-{i}", branch="B1") for i in range(5)]
    answers = [
        httpx.post(f"{(first, second)[i % 2].url}/v1/sessions", headers=_auth(token))
        for i, token in enumerate(tokens)
    ]
    assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
    assert all("gateway.sessions_full" in a.text for a in answers[3:])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_per_user_session_cap_holds_across_two_replicas_opening_at_once(replicas, token_for) -> None:
    from concurrent.futures import ThreadPoolExecutor

    first, second = replicas
    admin = {"Authorization": f"Bearer {first.settings.bootstrap_admin_token}"}
    httpx.patch(f"{first.url}/operator/ops/limits", json={"maxSessionsPerUser": 2}, headers=admin)
    wait_for_limits(second, maxSessionsPerUser=2)
    trainee = _auth(token_for("branch", user="trainee-1", branch="B1"))
    other = _auth(token_for("branch", user="trainee-2", branch="B1"))
    servers = (first, second)

    def open_on(i: int) -> httpx.Response:
        return httpx.post(f"{servers[i % 2].url}/v1/sessions", headers=trainee, timeout=10)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(open_on, range(10)))

    opened = [a for a in answers if a.status_code == 201]
    assert sorted(a.status_code for a in answers) == [201] * 2 + [429] * 8
    assert all("gateway.user_sessions_full" in a.text for a in answers if a.status_code == 429)
    # Another user is not held back by the first one's cap, on either replica.
    assert [httpx.post(f"{s.url}/v1/sessions", headers=other).status_code for s in servers] == [201, 201]
    # Closing on one replica frees the place on the other.
    closed = httpx.delete(f"{second.url}/v1/sessions/{opened[0].json()['id']}", headers=trainee)
    assert closed.status_code == 204
    assert httpx.post(f"{first.url}/v1/sessions", headers=trainee).status_code == 201
    assert httpx.post(f"{second.url}/v1/sessions", headers=trainee).status_code == 429
