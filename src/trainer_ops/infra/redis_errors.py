"""Redis going away is an outage of a shared store, not a bug: callers get 503, never a 500 or a hang."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis.exceptions

from trainer_ops.errors import Unavailable

# Every Redis call gives up after this long: a frozen Redis must not hold a request (or a worker) forever.
REDIS_TIMEOUT_SECONDS = 2.0


@contextlib.contextmanager
def redis_unavailable(what: str) -> Iterator[None]:
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        error = Unavailable(
            "limits.unavailable", f"the shared store of {what} (Redis) does not answer ({exc}); retry shortly"
        )
        error.headers = {"Retry-After": "1"}
        raise error from None
