"""Per-user call limits through the `limits` library: memory storage by default, Redis when configured
(shared by every replica, so N replicas still let exactly the limit through, not N times it)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from trainer_ops.infra.redis_errors import REDIS_TIMEOUT_SECONDS, redis_unavailable


class CallLimiter:
    def __init__(self, redis_url: str = "", *, prefix: str = "trainer-ops") -> None:
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
        # Moving window: exactly N calls in any 60 seconds, no burst of 2N across a window edge.
        self._limiter = MovingWindowRateLimiter(self._storage)

    async def hit(self, user_id: str, per_minute: int) -> float | None:
        """Count one call for `user_id`. None when allowed; otherwise the seconds until one is allowed."""
        item = RateLimitItemPerMinute(per_minute)
        with redis_unavailable("call limits"):
            if await self._limiter.hit(item, "ai-calls", user_id):
                return None
            stats = await self._limiter.get_window_stats(item, "ai-calls", user_id)
        return max(1.0, math.ceil(stats.reset_time - time.time()))

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
