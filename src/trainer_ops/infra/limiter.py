"""Per-user call limits through the `limits` library: memory storage by default, Redis when configured
(shared by every replica, so N replicas still let exactly the limit through, not N times it).

Each hit also says where the caller stands (limit, remaining, reset), which the gateway sends as
OpenAI's `x-ratelimit-*` headers on every call. `limits`' moving-window `hit` answers only yes or no,
and its `get_window_stats` is a second call: in memory that costs nothing, but on Redis it would be a
second round trip per gateway call. So on Redis one script runs limits' own two scripts (acquire, then
read the window) back to back: one round trip, atomic, the library's keys and semantics, and the
figures are those right after this very hit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import cast

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage, Storage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.asyncio import Redis
from redis.commands.core import AsyncScript as Script

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
        self._redis: tuple[RedisStorage, Script] | None = None
        if type(storage) is RedisStorage and _has_scripts(storage.bridge):
            assert isinstance(storage.bridge, RedispyBridge)
            self._redis = (storage, _hit_and_count_script(storage.bridge))

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
                allowed, start, count = await _redis_hit(*self._redis, item, user_id)
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


def _has_scripts(bridge: object) -> bool:
    """Whether this release of limits still has the internals the one-round-trip script is made of; if
    an upgrade moved them, the limiter falls back to the library's two public calls."""
    needed = ("SCRIPT_ACQUIRE_MOVING_WINDOW", "SCRIPT_MOVING_WINDOW", "prefixed_key", "get_connection")
    return isinstance(bridge, RedispyBridge) and all(hasattr(bridge, name) for name in needed)


def _hit_and_count_script(bridge: RedispyBridge) -> Script:
    """limits' own two moving-window scripts, verbatim, run one after the other in one script: the
    hit, then the window it leaves. Each reads KEYS and ARGV, so each becomes a function of them."""
    text = f"""
local function acquire(KEYS, ARGV)
{bridge.SCRIPT_ACQUIRE_MOVING_WINDOW.decode()}
end
local function window(KEYS, ARGV)
{bridge.SCRIPT_MOVING_WINDOW.decode()}
end
local acquired = acquire(KEYS, {{ARGV[1], ARGV[2], ARGV[3], 1}})
local counted = window(KEYS, {{tonumber(ARGV[1]) - tonumber(ARGV[3]), ARGV[2]}})
return {{acquired and 1 or 0, counted}}
"""
    # redis-py's Script sends EVALSHA and loads the script when Redis lacks it (nothing ran then).
    return cast(Redis, bridge.get_connection()).register_script(text)


async def _redis_hit(
    storage: RedisStorage, script: Script, item: RateLimitItem, user_id: str
) -> tuple[bool, float, int]:
    """(acquired, window start, calls in the window) after this hit, in one round trip."""
    assert isinstance(storage.bridge, RedispyBridge)
    now = time.time()
    key = storage.bridge.prefixed_key(item.key_for(NAMESPACE, user_id))
    acquired, *counted = await script([key], [now, item.amount, item.get_expiry()])
    if counted and counted[0]:
        return bool(acquired), float(counted[0][0]), int(counted[0][1])
    return bool(acquired), now, 0
