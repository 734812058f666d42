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
    region: str | None = Field(None, description="the place, when it was named as a region (`?region=`)")
    place: str | None = Field(None, description="the place asked about (`?place=` or `?region=`)")
    overridden: bool | None = Field(None, description="the place has an override of its own")
    overrideFrom: str | None = Field(
        None, description="the place whose override decides the value there (null: the global default)"
    )
    overrides: dict[str, bool] = Field(description="place code -> override, at any level")


class FeatureUpdate(BaseModel):
    """`enabled` sets the value (the global default, or a place's override with `?place=` or `?region=`).

    With a place, `enabled: null` removes its override (JSON merge patch): the place then follows its
    parent again (its country's, its region's, or the global default). `regionOverridable` and
    `description` are global, admin only.
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
