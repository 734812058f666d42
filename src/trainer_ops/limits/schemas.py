"""Limits request and response shapes (spec 6.1 and 6.2)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trainer_ops.http.body import drop_null
from trainer_ops.limits.types import (
    MAX_AI_CALLS_PER_MINUTE,
    MAX_CONCURRENT_SESSIONS,
    MAX_FILE_UPLOAD_MB,
    MAX_SESSIONS_PER_USER,
)

_CALLS = "AI calls per minute, per calling user (429 past it)"
_UPLOAD = "largest upload (POST /v1/files, ruleset uploads) in MiB (413 past it)"
_SESSIONS = "training sessions open at once across the deployment (429 past it)"
_PER_USER = (
    "training sessions one user may hold open at once (429 past it); not in spec 6.1, and a store "
    "written before it existed reads it as its default, 3"
)


class LimitsRead(BaseModel):
    """The limits in force: spec 6.1's three fields, and the per-user session cap."""

    aiCallsPerMinute: int = Field(description=_CALLS)
    fileUploadLimitMb: int = Field(description=_UPLOAD)
    maxConcurrentSessions: int = Field(description=_SESSIONS)
    maxSessionsPerUser: int = Field(description=_PER_USER)


class LimitsUpdate(BaseModel):
    """A partial update of the limits: positive integers up to a sane ceiling."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_null())

    aiCallsPerMinute: int | None = Field(None, ge=1, le=MAX_AI_CALLS_PER_MINUTE, description=_CALLS)
    fileUploadLimitMb: int | None = Field(None, ge=1, le=MAX_FILE_UPLOAD_MB, description=_UPLOAD)
    maxConcurrentSessions: int | None = Field(None, ge=1, le=MAX_CONCURRENT_SESSIONS, description=_SESSIONS)
    maxSessionsPerUser: int | None = Field(None, ge=1, le=MAX_SESSIONS_PER_USER, description=_PER_USER)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}
