"""The call limiter, memory and Redis twins alike: each hit says where the caller stands, and on Redis
it costs one round trip, even on a Redis that has not (or no longer) got limits' scripts."""

from __future__ import annotations

import asyncio
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


@pytest.mark.parametrize("loaded", [(), ("acquire",)])
def test_redis_without_limits_scripts_still_counts_each_call_once(loaded: tuple[str, ...]) -> None:
    """A fresh or restarted Redis has none of limits' scripts, or (after an older replica's hit) only
    the acquire one. Flushing scripts is harmless to other clients: redis-py loads them again."""
    try:
        client = redis.Redis.from_url(REDIS_URL)
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")

    async def run() -> list[CallBudget]:
        limiter = CallLimiter(REDIS_URL, prefix=f"test-limiter-{uuid.uuid4().hex[:8]}")
        client.script_flush()
        if loaded:
            client.script_load(limiter._redis.bridge.lua_acquire_moving_window.script)  # type: ignore[union-attr]
        try:
            return [await limiter.hit("u", 2) for _ in range(3)]
        finally:
            await limiter.reset()
            await limiter.aclose()

    budgets = asyncio.run(run())
    assert [(b.allowed, b.remaining) for b in budgets] == [(True, 1), (True, 0), (False, 0)]
