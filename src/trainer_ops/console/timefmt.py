"""Times as operators read them: in their own time zone (the `trainer_ops_tz` cookie console.js sets
from the browser), else UTC."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

COOKIE = "trainer_ops_tz"


@lru_cache(maxsize=256)
def zone_of(name: str | None) -> tzinfo:
    """The named IANA zone, or UTC for no name or a name that is not one (cookies are user input)."""
    if not name or len(name) > 64:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local_time(epoch_seconds: float, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=zone)


def show(epoch_seconds: float | None, zone: tzinfo) -> str:
    """`2026-11-29 10:30:00 KST` (the zone's abbreviation, or its UTC offset where it has none)."""
    if epoch_seconds is None:
        return ""
    when = local_time(epoch_seconds, zone)
    label = when.tzname() or when.strftime("%z")
    return f"{when:%Y-%m-%d %H:%M:%S} {label}"


def iso(epoch_seconds: float | None) -> str:
    """For <time datetime=…>: the instant in UTC, machine-readable."""
    if epoch_seconds is None:
        return ""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat(timespec="seconds")
