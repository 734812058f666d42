"""Opening a training session under both caps, and the refusal that tells the caller what to do."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from trainer_ops.errors import TooManyRequests
from trainer_ops.infra.sessions import Full, Refusal, SessionLeases
from trainer_ops.limits.types import limit


async def open_session(
    leases: SessionLeases, *, owner: str, limits: Mapping[str, Any], idle_seconds: float
) -> str:
    """A new session id of `owner`; 429 past `maxSessionsPerUser` or `maxConcurrentSessions`."""
    total = limit(limits, "maxConcurrentSessions")
    per_user = limit(limits, "maxSessionsPerUser")
    opened = await leases.open(owner=owner, limit=total, per_user=per_user, idle_seconds=idle_seconds)
    if isinstance(opened, str):
        return opened
    raise _refusal(opened, owner=owner, total=total, per_user=per_user, idle_seconds=idle_seconds)


def _refusal(
    refusal: Refusal, *, owner: str, total: int, per_user: int, idle_seconds: float
) -> TooManyRequests:
    # The earliest a place frees by itself; closing a session frees one at once.
    headers = {"Retry-After": str(max(1, math.ceil(refusal.frees_in)))}
    if refusal.full is Full.USER:
        return TooManyRequests(
            "gateway.user_sessions_full",
            f"{owner} has {per_user} training sessions open, the most one user may hold "
            f"(maxSessionsPerUser); close one with DELETE /v1/sessions/{{id}}, or wait until one has "
            f"been idle for {idle_seconds:g} s",
            headers=headers,
            extra={"limit": per_user},
        )
    return TooManyRequests(
        "gateway.sessions_full",
        f"{total} training sessions are open already (maxConcurrentSessions); close one or retry later",
        headers=headers,
        extra={"limit": total},
    )
