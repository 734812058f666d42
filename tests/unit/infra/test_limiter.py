"""The call limiter, memory and Redis twins alike: each hit says where the caller stands, and on Redis
it costs one round trip, also on a Redis that has not (or no longer) got the script."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from trainer_ops.infra.limiter import CallBudget, CallLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "memory":
        yield ""
        return
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    yield REDIS_URL


def hits(redis_url: str, count: int, *, limit: int, window: int = 60) -> list[CallBudget]:
    async def run() -> list[CallBudget]:
        limiter = CallLimiter(redis_url, prefix=f"test-limiter-{uuid.uuid4().hex[:8]}", window_seconds=window)
        try:
            return [await limiter.hit("engine-a", limit) for _ in range(count)]
        finally:
            await limiter.reset()
            await limiter.aclose()

    return asyncio.run(run())


def test_each_hit_counts_down_the_budget_and_then_refuses(redis_url: str) -> None:
    budgets = hits(redis_url, 4, limit=3)
    assert [(b.allowed, b.limit, b.remaining) for b in budgets] == [
        (True, 3, 2),
        (True, 3, 1),
        (True, 3, 0),
        (False, 3, 0),
    ]
    assert all(59 < b.reset_seconds <= 60 for b in budgets)
    assert budgets[-1].retry_after == 60


def test_a_refused_caller_is_allowed_again_once_the_window_moves_on(redis_url: str) -> None:
    async def run() -> list[bool]:
        limiter = CallLimiter(redis_url, prefix=f"test-limiter-{uuid.uuid4().hex[:8]}", window_seconds=1)
        try:
            first, refused = await limiter.hit("u", 1), await limiter.hit("u", 1)
            await asyncio.sleep(refused.retry_after)
            return [first.allowed, refused.allowed, (await limiter.hit("u", 1)).allowed]
        finally:
            await limiter.reset()
            await limiter.aclose()

    assert asyncio.run(run()) == [True, False, True]


@pytest.fixture
def private_redis() -> Iterator[str]:
    """A Redis server of this test's own: flushing its scripts must not touch the shared one that other
    tests (in other workers) are using at the same moment."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("no redis-server binary")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_redis_without_the_script_loads_it_and_counts_each_call_once(private_redis: str) -> None:
    """A fresh or restarted Redis has no scripts: redis-py loads a script again when Redis answers
    NOSCRIPT (and nothing ran then)."""
    client = redis.Redis.from_url(private_redis)

    async def run() -> list[CallBudget]:
        limiter = CallLimiter(private_redis, prefix=f"test-limiter-{uuid.uuid4().hex[:8]}")
        try:
            first = await limiter.hit("u", 2)
            client.script_flush()
            return [first, await limiter.hit("u", 2), await limiter.hit("u", 2)]
        finally:
            await limiter.reset()
            await limiter.aclose()

    budgets = asyncio.run(run())
    assert [(b.allowed, b.remaining) for b in budgets] == [(True, 1), (True, 0), (False, 0)]


def test_limits_own_reading_of_the_window_agrees_with_the_budget(redis_url: str) -> None:
    """On Redis the hit runs in our one script: it must keep limits' keys and entries, so that the
    library (its reset, clear, stats, and replicas of the last release) sees the same window."""
    from limits import RateLimitItemPerMinute

    async def run() -> tuple[CallBudget, int]:
        limiter = CallLimiter(redis_url, prefix=f"test-limiter-{uuid.uuid4().hex[:8]}")
        try:
            for _ in range(2):
                budget = await limiter.hit("engine-a", 5)
            stats = await limiter._limiter.get_window_stats(RateLimitItemPerMinute(5), "ai-calls", "engine-a")
            return budget, stats.remaining
        finally:
            await limiter.reset()
            await limiter.aclose()

    budget, remaining = asyncio.run(run())
    assert budget.remaining == remaining == 3
