"""Session leases, memory and Redis twins: the deployment-wide and the per-user cap, idle expiry, closing.

The Redis twin needs Redis at 127.0.0.1:6379 (as tests/gateway/test_replicas.py does); each test uses
a prefix of its own and deletes its keys.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest
import redis

from trainer_ops.infra.sessions import (
    Full,
    MemorySessionLeases,
    RedisSessionLeases,
    Refusal,
    SessionLeases,
    new_session_id,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
IDLE = 60.0


class FakeClock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


Make = Callable[[], SessionLeases]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"trainer-ops-test-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest, clock: FakeClock, prefix: str) -> Make:
    """Builds leases of one twin; every Redis instance built shares the store, as replicas do."""
    if request.param == "memory":
        shared = MemorySessionLeases(clock=clock)
        return lambda: shared
    return lambda: RedisSessionLeases(REDIS_URL, prefix=prefix, clock=clock)


def full_of(opened: str | Refusal) -> Full | None:
    return opened.full if isinstance(opened, Refusal) else None


def run(make: Make, scenario: Callable[[SessionLeases], Awaitable[None]]) -> None:
    async def main() -> None:
        leases = make()
        try:
            await scenario(leases)
        finally:
            await leases.aclose()

    asyncio.run(main())


async def fill(leases: SessionLeases, owner: str, n: int, *, limit: int, per_user: int) -> list[str]:
    opened = [
        await leases.open(owner=owner, limit=limit, per_user=per_user, idle_seconds=IDLE) for _ in range(n)
    ]
    assert all(isinstance(sid, str) for sid in opened), opened
    return [sid for sid in opened if isinstance(sid, str)]


def test_a_user_at_the_per_user_cap_is_refused_and_another_user_is_not(make: Make) -> None:
    async def scenario(leases: SessionLeases) -> None:
        await fill(leases, "ana", 2, limit=10, per_user=2)

        refused = await leases.open(owner="ana", limit=10, per_user=2, idle_seconds=IDLE)
        other = await leases.open(owner="ben", limit=10, per_user=2, idle_seconds=IDLE)

        assert refused == Refusal(Full.USER, IDLE)
        assert isinstance(other, str)
        assert await leases.count() == 3

    run(make, scenario)


def test_the_deployment_cap_refuses_everyone_once_reached(make: Make) -> None:
    async def scenario(leases: SessionLeases) -> None:
        await fill(leases, "ana", 2, limit=3, per_user=3)
        await fill(leases, "ben", 1, limit=3, per_user=3)

        for owner in ("ben", "cyd"):
            refused = await leases.open(owner=owner, limit=3, per_user=3, idle_seconds=IDLE)
            assert full_of(refused) is Full.DEPLOYMENT

    run(make, scenario)


def test_the_per_user_cap_is_named_when_both_caps_are_reached(make: Make) -> None:
    # The user can act on their own cap (close one); the deployment's they cannot.
    async def scenario(leases: SessionLeases) -> None:
        await fill(leases, "ana", 2, limit=2, per_user=2)

        refused = await leases.open(owner="ana", limit=2, per_user=2, idle_seconds=IDLE)

        assert full_of(refused) is Full.USER

    run(make, scenario)


def test_closing_a_session_frees_a_place_at_once(make: Make) -> None:
    async def scenario(leases: SessionLeases) -> None:
        first, _ = await fill(leases, "ana", 2, limit=10, per_user=2)

        assert not await leases.close(first, owner="ben")  # not ben's to close
        assert await leases.close(first, owner="ana")
        assert not await leases.close(first, owner="ana")

        assert isinstance(await leases.open(owner="ana", limit=10, per_user=2, idle_seconds=IDLE), str)

    run(make, scenario)


def test_idle_expiry_frees_places_and_the_refusal_says_when(make: Make, clock: FakeClock) -> None:
    async def scenario(leases: SessionLeases) -> None:
        await fill(leases, "ana", 1, limit=10, per_user=2)
        clock.now += 20
        await fill(leases, "ana", 1, limit=10, per_user=2)
        clock.now += 10

        refused = await leases.open(owner="ana", limit=10, per_user=2, idle_seconds=IDLE)
        assert isinstance(refused, Refusal)
        assert refused.frees_in == pytest.approx(IDLE - 30)  # the older lease expires first

        clock.now += IDLE - 30 + 0.001
        assert isinstance(await leases.open(owner="ana", limit=10, per_user=2, idle_seconds=IDLE), str)
        assert await leases.count() == 2

    run(make, scenario)


def test_touching_a_session_keeps_it_counted_past_its_first_expiry(make: Make, clock: FakeClock) -> None:
    async def scenario(leases: SessionLeases) -> None:
        kept, dropped = await fill(leases, "ana", 2, limit=10, per_user=2)
        clock.now += IDLE - 1

        assert await leases.touch(kept, owner="ana", idle_seconds=IDLE)
        assert not await leases.touch(kept, owner="ben", idle_seconds=IDLE)
        clock.now += 2

        assert not await leases.touch(dropped, owner="ana", idle_seconds=IDLE)
        assert isinstance(await leases.open(owner="ana", limit=10, per_user=2, idle_seconds=IDLE), str)
        refused = await leases.open(owner="ana", limit=10, per_user=2, idle_seconds=IDLE)
        assert full_of(refused) is Full.USER

    run(make, scenario)


def test_many_opens_at_once_from_two_replicas_never_pass_either_cap(make: Make) -> None:
    async def scenario(leases: SessionLeases) -> None:
        other = make()  # Redis: a second client, as another replica has; memory: the same process
        try:
            pair = (leases, other)
            opens = [
                pair[i % 2].open(owner=owner, limit=5, per_user=3, idle_seconds=IDLE)
                for i in range(12)
                for owner in ("ana", "ben")
            ]
            results = await asyncio.gather(*opens)
        finally:
            if other is not leases:
                await other.aclose()

        assert sum(isinstance(r, str) for r in results) == 5
        assert await leases.count() == 5

    run(make, scenario)


def test_redis_a_lease_from_before_per_user_sets_counts_once_touched(clock: FakeClock, prefix: str) -> None:
    async def scenario(leases: SessionLeases) -> None:
        legacy = new_session_id("ana")
        await leases._redis.zadd(f"{prefix}:sessions", {legacy: clock.now + IDLE})  # type: ignore[attr-defined]

        assert await leases.touch(legacy, owner="ana", idle_seconds=IDLE)
        refused = await leases.open(owner="ana", limit=10, per_user=1, idle_seconds=IDLE)

        assert full_of(refused) is Full.USER

    run(lambda: RedisSessionLeases(REDIS_URL, prefix=prefix, clock=clock), scenario)


def test_redis_a_users_set_goes_away_by_itself_after_idle(clock: FakeClock, prefix: str) -> None:
    async def scenario(leases: SessionLeases) -> None:
        await fill(leases, "ana", 1, limit=10, per_user=2)

    run(lambda: RedisSessionLeases(REDIS_URL, prefix=prefix, clock=clock), scenario)
    client = redis.Redis.from_url(REDIS_URL)
    [user_key] = client.keys(f"{prefix}:sessions:user:*")
    assert 0 < client.pttl(user_key) <= IDLE * 1000 + 1000
    client.close()
