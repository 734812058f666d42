"""Limits request and response shapes (spec 6.1 and 6.2)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trainer_ops.http.body import drop_null
from trainer_ops.limits.types import MAX_AI_CALLS_PER_MINUTE, MAX_CONCURRENT_SESSIONS, MAX_FILE_UPLOAD_MB


class LimitsRead(BaseModel):
    aiCallsPerMinute: int
    fileUploadLimitMb: int
    maxConcurrentSessions: int


class LimitsUpdate(BaseModel):
    """A partial update of the limits: positive integers up to a sane ceiling."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_null())

    aiCallsPerMinute: int | None = Field(None, ge=1, le=MAX_AI_CALLS_PER_MINUTE)
    fileUploadLimitMb: int | None = Field(None, ge=1, le=MAX_FILE_UPLOAD_MB)
    maxConcurrentSessions: int | None = Field(None, ge=1, le=MAX_CONCURRENT_SESSIONS)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}
