"""Limit values and their ceilings."""

from __future__ import annotations

from typing import Any

KIND = "limits"

DEFAULT_LIMITS: dict[str, Any] = {
    "aiCallsPerMinute": 60,
    "fileUploadLimitMb": 200,
    "maxConcurrentSessions": 30,
}

# Ceilings an operator of a large retail platform would not mean to pass: a typo, not a plan.
MAX_AI_CALLS_PER_MINUTE = 100_000
MAX_FILE_UPLOAD_MB = 10_240
MAX_CONCURRENT_SESSIONS = 1_000_000
