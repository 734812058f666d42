"""Feature request and response shapes (spec 2.1 and 2.2)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from trainer_ops.features.types import KEY_PATTERN
from trainer_ops.http.body import drop_null


class FeaturesRead(RootModel[dict[str, bool]]):
    """featureKey -> enabled: the global defaults, or the effective values for a region."""


class FeatureRead(BaseModel):
    key: str
    enabled: bool
    defaultEnabled: bool
    regionOverridable: bool
    description: str
    region: str | None = None
    overridden: bool | None = None
    overrides: dict[str, bool]


class FeatureUpdate(BaseModel):
    """`enabled` sets the value (the global default, or a region's override with `?region=`).

    With `?region=`, `enabled: null` removes the region's override (JSON merge patch): the region then
    follows the global default again. `regionOverridable` and `description` are global, admin only.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_null("regionOverridable", "description"))

    enabled: bool | None = None
    regionOverridable: bool | None = None
    description: str | None = Field(None, max_length=500)

    @field_validator("regionOverridable", "description", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value


class FeatureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    enabled: bool
    regionOverridable: bool = False
    description: str = Field("", max_length=500)
