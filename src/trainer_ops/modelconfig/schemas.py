"""Model-config request and response shapes (spec 1.1 and 1.2)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trainer_ops.http.body import drop_null


class ModelConfigRead(BaseModel):
    model: str
    temperature: float
    maxTokens: int
    toneProfile: str
    language: str
    enabled: bool


class ModelConfigUpdate(BaseModel):
    """A partial update: send only the fields to change. Unknown fields and nulls are refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_null())

    model: str | None = Field(None, min_length=1, max_length=128)
    temperature: float | None = Field(None, ge=0, le=2)
    maxTokens: int | None = Field(None, ge=1)
    toneProfile: str | None = Field(None, min_length=1, max_length=64)
    language: str | None = Field(None, min_length=1, max_length=35)
    enabled: bool | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}
