"""Training-session leases: at most N open deployment-wide, each expiring when idle.

Memory for one process; Redis (one sorted set scored by expiry, changed by one Lua script, so every
replica sees the same count and two replicas cannot both take the last place).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Protocol

import redis.asyncio as aioredis

from trainer_ops.infra.redis_errors import REDIS_TIMEOUT_SECONDS, redis_unavailable


class SessionLeases(Protocol):
    async def open(self, *, owner: str, limit: int, idle_seconds: float) -> str | None:
        """A new session of `owner`, or None when `limit` sessions are open."""
        ...

    async def touch(self, session_id: str, *, owner: str, idle_seconds: float) -> bool:
        """Extend `owner`'s live session; False when it is unknown, expired or someone else's."""
        ...

    async def close(self, session_id: str, *, owner: str) -> bool: ...

    async def count(self) -> int: ...

    async def aclose(self) -> None: ...


def new_session_id(owner: str) -> str:
    """The id carries a fingerprint of its owner, so a lease can be checked against its caller
    without a second lookup (and one user cannot use or close another's session)."""
    token = secrets.token_urlsafe(16)
    return f"sess_{token}.{_fingerprint(token, owner)}"


def _fingerprint(token: str, owner: str) -> str:
    return hashlib.sha256(f"{token}\x00{owner}".encode()).hexdigest()[:16]


def owned_by(session_id: str, owner: str) -> bool:
    token, _, mark = session_id.removeprefix("sess_").partition(".")
    return bool(mark) and hmac.compare_digest(mark, _fingerprint(token, owner))


class MemorySessionLeases:
    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def _sweep(self, now: float) -> None:
        for sid in [s for s, at in self._expiry.items() if at <= now]:
            del self._expiry[sid]

    async def open(self, *, owner: str, limit: int, idle_seconds: float) -> str | None:
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            if len(self._expiry) >= limit:
                return None
            sid = new_session_id(owner)
            self._expiry[sid] = now + idle_seconds
            return sid

    async def touch(self, session_id: str, *, owner: str, idle_seconds: float) -> bool:
        if not owned_by(session_id, owner):
            return False
        now = time.monotonic()
        with self._lock:
            at = self._expiry.get(session_id)
            if at is None or at <= now:
                self._expiry.pop(session_id, None)
                return False
            self._expiry[session_id] = now + idle_seconds
            return True

    async def close(self, session_id: str, *, owner: str) -> bool:
        if not owned_by(session_id, owner):
            return False
        with self._lock:
            return self._expiry.pop(session_id, None) is not None

    async def count(self) -> int:
        with self._lock:
            self._sweep(time.monotonic())
            return len(self._expiry)

    async def aclose(self) -> None:
        return None


_OPEN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
return 1
"""
_TOUCH = """
local at = redis.call('ZSCORE', KEYS[1], ARGV[2])
if (not at) or tonumber(at) <= tonumber(ARGV[1]) then redis.call('ZREM', KEYS[1], ARGV[2]) return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
return 1
"""


class RedisSessionLeases:
    def __init__(self, url: str, *, prefix: str = "trainer-ops") -> None:
        key = f"{prefix}:sessions"
        self._redis = aioredis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        self._key = key
        self._open = self._redis.register_script(_OPEN)
        self._touch = self._redis.register_script(_TOUCH)

    async def open(self, *, owner: str, limit: int, idle_seconds: float) -> str | None:
        now = time.time()
        sid = new_session_id(owner)
        with redis_unavailable("training sessions"):
            ok = await self._open(keys=[self._key], args=[now, limit, now + idle_seconds, sid])
        return sid if ok else None

    async def touch(self, session_id: str, *, owner: str, idle_seconds: float) -> bool:
        if not owned_by(session_id, owner):
            return False
        now = time.time()
        with redis_unavailable("training sessions"):
            return bool(await self._touch(keys=[self._key], args=[now, session_id, now + idle_seconds]))

    async def close(self, session_id: str, *, owner: str) -> bool:
        if not owned_by(session_id, owner):
            return False
        with redis_unavailable("training sessions"):
            return bool(await self._redis.zrem(self._key, session_id))

    async def count(self) -> int:
        with redis_unavailable("training sessions"):
            await self._redis.zremrangebyscore(self._key, "-inf", time.time())
            return int(await self._redis.zcard(self._key))

    async def aclose(self) -> None:
        await self._redis.aclose()
