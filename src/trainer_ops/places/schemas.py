"""Places catalogue shapes: codes of one shape (stored upper case), names of bounded free text."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from trainer_ops.access.places import CODE_PATTERN, MAX_NAME, normal_code

Code = Annotated[
    str,
    Field(pattern=CODE_PATTERN, description="1 to 32 letters, digits, '-' or '_'; stored in upper case"),
    AfterValidator(normal_code),
]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME, description="free text, for people")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BranchPlace(_Strict):
    code: Code
    name: Name


class CountryPlace(_Strict):
    code: Code
    name: Name
    branches: list[BranchPlace] = Field(default_factory=list)


class RegionPlace(_Strict):
    code: Code
    name: Name
    countries: list[CountryPlace] = Field(default_factory=list)


class PlacesDocument(_Strict):
    """The whole catalogue: regions, the countries under each, the branches under each country. Every
    code is unique across all three levels."""

    regions: list[RegionPlace]
