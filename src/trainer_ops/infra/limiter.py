"""Per-user call limits through the `limits` library: memory storage by default, Redis when configured
(shared by every replica, so N replicas still let exactly the limit through, not N times it).

Each hit also says where the caller stands (limit, remaining, reset), which the gateway sends as
OpenAI's `x-ratelimit-*` headers on every call. `limits`' moving-window `hit` answers only yes or no,
and its `get_window_stats` is a second call: in memory that costs nothing, but on Redis it would be a
second round trip per gateway call. So on Redis both of `limits`' own scripts (acquire, then read the
window) go in one MULTI/EXEC pipeline: one round trip, the same keys and the same semantics as the
library, and the figures are those right after this very hit (nothing else runs in between).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import cast

import redis.exceptions
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage, Storage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import Redis
from redis.commands.core import Script

from trainer_ops.infra.redis_errors import REDIS_TIMEOUT_SECONDS, redis_unavailable

NAMESPACE = "ai-calls"


@dataclass(frozen=True, slots=True)
class CallBudget:
    """Where one caller stands after a hit: `limit` calls per window, `remaining` of them left, and
    `reset_seconds` until the oldest counted call leaves the window (one more call is allowed)."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float

    @property
    def retry_after(self) -> int:
        """Whole seconds to wait before retrying a refused call (at least 1)."""
        return max(1, math.ceil(self.reset_seconds))


class CallLimiter:
    def __init__(self, redis_url: str = "", *, prefix: str = "trainer-ops", window_seconds: int = 60) -> None:
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            storage = storage_from_string(
                uri,
                implementation="redispy",
                key_prefix=prefix,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        else:
            storage = storage_from_string("async+memory://")
        assert isinstance(storage, Storage)
        self._storage = storage
        # Moving window: exactly N calls in any window, no burst of 2N across a window edge.
        self._limiter = MovingWindowRateLimiter(self._storage)
        # The limits document says "per minute"; tests run the same limiter over a shorter window.
        self._window = window_seconds
        # One round trip on a single Redis through redis-py; sentinel and cluster clients take the
        # library's two calls.
        single = type(storage) is RedisStorage and isinstance(storage.bridge, RedispyBridge)
        self._redis = storage if single and isinstance(storage, RedisStorage) else None

    async def hit(self, user_id: str, per_minute: int) -> CallBudget:
        """Count one call for `user_id` if the limit allows it, and say where the caller stands."""
        # Per minute: the key limits has always used, so replicas of the last release count alike.
        item: RateLimitItem = (
            RateLimitItemPerMinute(per_minute)
            if self._window == 60
            else RateLimitItemPerSecond(per_minute, self._window)
        )
        with redis_unavailable("call limits"):
            if self._redis is not None:
                allowed, start, count = await _redis_hit(self._redis, item, user_id)
            else:
                allowed = await self._limiter.hit(item, NAMESPACE, user_id)
                stats = await self._limiter.get_window_stats(item, NAMESPACE, user_id)
                start, count = stats.reset_time - item.get_expiry(), item.amount - stats.remaining
        reset = start + item.get_expiry() - time.time()
        return CallBudget(allowed, item.amount, max(0, item.amount - count), max(0.0, reset))

    async def reset(self) -> None:
        await self._limiter.storage.reset()

    async def aclose(self) -> None:
        """Close the Redis connections (memory storage has none)."""
        # limits keeps the redis.asyncio client on its storage bridge (limits 5).
        bridge = getattr(self._storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()


async def _redis_hit(storage: RedisStorage, item: RateLimitItem, user_id: str) -> tuple[bool, float, int]:
    """limits' acquire and window scripts in one MULTI/EXEC: (acquired, window start, calls in it)."""
    bridge = storage.bridge
    assert isinstance(bridge, RedispyBridge)
    key = item.key_for(NAMESPACE, user_id)
    full_key, expiry = bridge.prefixed_key(key), item.get_expiry()
    acquire, window = bridge.lua_acquire_moving_window, bridge.lua_moving_window
    for _ in range(2):
        now = time.time()
        async with _client(bridge).pipeline(transaction=True) as pipe:
            # evalsha, not the Script objects: those make a pipeline ask SCRIPT EXISTS every time.
            pipe.evalsha(acquire.sha, 1, full_key, now, item.amount, expiry, 1)
            pipe.evalsha(window.sha, 1, full_key, now - expiry, item.amount)
            acquired, counted = await pipe.execute(raise_on_error=False)
        if not isinstance(acquired, redis.exceptions.NoScriptError):
            break
        # A fresh (or flushed) Redis: the acquire did not run, so load both scripts and go again.
        await _load(bridge, acquire, window)
    if isinstance(acquired, Exception):
        raise acquired
    if isinstance(counted, Exception):
        # The hit counted but its figures are lost (the window script alone was missing): read them
        # the library's way, which loads that script for the next time.
        start, count = await storage.get_moving_window(key, item.amount, expiry)
        return bool(acquired), start, count
    if counted:
        return bool(acquired), float(counted[0]), int(counted[1])
    return bool(acquired), now, 0


def _client(bridge: RedispyBridge) -> Redis:
    return cast(Redis, bridge.get_connection())  # limits types it as a protocol of a few commands


async def _load(bridge: RedispyBridge, *scripts: Script) -> None:
    for script in scripts:
        script.sha = await _client(bridge).script_load(script.script)
