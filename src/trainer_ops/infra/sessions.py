"""Training-session leases: at most N open deployment-wide and M per user, each expiring when idle.

Memory for one process; Redis for a fleet: a sorted set of every lease and one per user, both scored by
expiry and changed only by Lua scripts, so every replica sees the same counts and two replicas cannot
both take the last place (deployment-wide or a user's).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from trainer_ops.infra.redis_errors import REDIS_TIMEOUT_SECONDS, redis_unavailable


class Full(enum.Enum):
    """Which cap refused a new session."""

    USER = "user"
    DEPLOYMENT = "deployment"


@dataclass(frozen=True)
class Refusal:
    full: Full
    # Seconds until the first lease counted against that cap expires if left idle: the earliest a
    # place frees without anyone closing one.
    frees_in: float


class SessionLeases(Protocol):
    async def open(self, *, owner: str, limit: int, per_user: int, idle_seconds: float) -> str | Refusal:
        """A new session of `owner`; a Refusal when `owner` holds `per_user` sessions (checked first:
        the user can act on it) or `limit` sessions are open in all."""
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
    # As bytes: compare_digest refuses str with non-ASCII characters, and an id is caller input.
    return bool(mark) and hmac.compare_digest(mark.encode(), _fingerprint(token, owner).encode())


class MemorySessionLeases:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._expiry: dict[str, float] = {}
        self._owned: dict[str, dict[str, float]] = {}  # owner -> that owner's leases and expiries
        self._lock = threading.Lock()
        self._clock = clock

    def _sweep(self, now: float) -> None:
        for sid in [s for s, at in self._expiry.items() if at <= now]:
            del self._expiry[sid]
        for owner, leases in list(self._owned.items()):
            for sid in [s for s, at in leases.items() if at <= now]:
                del leases[sid]
            if not leases:
                del self._owned[owner]

    async def open(self, *, owner: str, limit: int, per_user: int, idle_seconds: float) -> str | Refusal:
        now = self._clock()
        with self._lock:
            self._sweep(now)
            mine = self._owned.get(owner, {})
            if len(mine) >= per_user:
                return Refusal(Full.USER, min(mine.values()) - now)
            if len(self._expiry) >= limit:
                return Refusal(Full.DEPLOYMENT, min(self._expiry.values()) - now)
            sid = new_session_id(owner)
            self._expiry[sid] = now + idle_seconds
            self._owned.setdefault(owner, {})[sid] = now + idle_seconds
            return sid

    async def touch(self, session_id: str, *, owner: str, idle_seconds: float) -> bool:
        if not owned_by(session_id, owner):
            return False
        now = self._clock()
        with self._lock:
            at = self._expiry.get(session_id)
            if at is None or at <= now:
                self._drop(session_id, owner)
                return False
            self._expiry[session_id] = now + idle_seconds
            self._owned.setdefault(owner, {})[session_id] = now + idle_seconds
            return True

    def _drop(self, session_id: str, owner: str) -> bool:
        mine = self._owned.get(owner, {})
        mine.pop(session_id, None)
        if not mine:
            self._owned.pop(owner, None)
        return self._expiry.pop(session_id, None) is not None

    async def close(self, session_id: str, *, owner: str) -> bool:
        if not owned_by(session_id, owner):
            return False
        with self._lock:
            return self._drop(session_id, owner)

    async def count(self) -> int:
        with self._lock:
            self._sweep(self._clock())
            return len(self._expiry)

    async def aclose(self) -> None:
        return None


# KEYS: every lease, the owner's leases. ARGV: now, limit, per user, expiry, id, key lifetime in ms.
# Returns {0} when opened, else {1 (user) or 2 (deployment), the first expiry counted against that cap}
# (scores come back as strings, which keep their fraction; a Lua number would be truncated).
_OPEN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return {1, redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]}
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return {2, redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]}
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return {0}
"""
# KEYS as above. ARGV: now, id, expiry, key lifetime in ms. A lease opened before per-user sets
# existed joins its owner's set on its next touch.
_TOUCH = """
local at = redis.call('ZSCORE', KEYS[1], ARGV[2])
if (not at) or tonumber(at) <= tonumber(ARGV[1]) then
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""
_CLOSE = """
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
"""
_FULL = {1: Full.USER, 2: Full.DEPLOYMENT}


class RedisSessionLeases:
    def __init__(
        self, url: str, *, prefix: str = "trainer-ops", clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = aioredis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        self._key = f"{prefix}:sessions"
        self._prefix = prefix
        self._clock = clock
        self._open = self._redis.register_script(_OPEN)
        self._touch = self._redis.register_script(_TOUCH)
        self._close = self._redis.register_script(_CLOSE)

    def _keys(self, owner: str) -> list[str]:
        # Hashed: a user id may hold any character, and the key's length stays bounded.
        digest = hashlib.sha256(owner.encode()).hexdigest()[:32]
        return [self._key, f"{self._prefix}:sessions:user:{digest}"]

    async def open(self, *, owner: str, limit: int, per_user: int, idle_seconds: float) -> str | Refusal:
        now = self._clock()
        sid = new_session_id(owner)
        args: list[str | float] = [now, limit, per_user, now + idle_seconds, sid, _lifetime_ms(idle_seconds)]
        with redis_unavailable("training sessions"):
            reply = await self._open(keys=self._keys(owner), args=args)
        if int(reply[0]) == 0:
            return sid
        return Refusal(_FULL[int(reply[0])], float(reply[1]) - now)

    async def touch(self, session_id: str, *, owner: str, idle_seconds: float) -> bool:
        if not owned_by(session_id, owner):
            return False
        now = self._clock()
        args: list[str | float] = [now, session_id, now + idle_seconds, _lifetime_ms(idle_seconds)]
        with redis_unavailable("training sessions"):
            return bool(await self._touch(keys=self._keys(owner), args=args))

    async def close(self, session_id: str, *, owner: str) -> bool:
        if not owned_by(session_id, owner):
            return False
        with redis_unavailable("training sessions"):
            return bool(await self._close(keys=self._keys(owner), args=[session_id]))

    async def count(self) -> int:
        with redis_unavailable("training sessions"):
            await self._redis.zremrangebyscore(self._key, "-inf", self._clock())
            return int(await self._redis.zcard(self._key))

    async def aclose(self) -> None:
        await self._redis.aclose()


def _lifetime_ms(idle_seconds: float) -> int:
    """How long a user's set outlives its newest lease (by Redis's own clock): an idle user's set goes
    away by itself, and a second of slack covers clock skew between the replicas."""
    return int(idle_seconds * 1000) + 1000
