"""The snapshot an engine runs on: pure values, validated with pydantic."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Ruleset(BaseModel):
    engine: str
    targetId: str
    digest: str
    version: int
    ruleset: dict[str, Any] = Field(default_factory=dict)
    epoch: int = 0


class Snapshot(BaseModel):
    id: str = ""
    versions: dict[str, int] = Field(default_factory=dict)
    modelConfig: dict[str, Any] = Field(default_factory=dict)
    features: dict[str, Any] = Field(default_factory=lambda: {"features": {}, "overrides": {}})
    limits: dict[str, Any] = Field(default_factory=dict)
    # The places catalogue: {"regions": [{"code", "name", "countries": [{..., "branches": [...]}]}]}.
    places: dict[str, Any] = Field(default_factory=lambda: {"regions": []})
    # The scope policy in force (operation -> role -> rule), for consoles and tools that show it.
    policy: dict[str, Any] = Field(default_factory=dict)
    rulesets: dict[str, Ruleset] = Field(default_factory=dict)

    def is_enabled(self, feature: str, region: str | None = None, default: bool = False) -> bool:
        """The region's override if it has one, else the global default; `default` for unknown flags."""
        spec = self.features.get("features", {}).get(feature)
        if spec is None:
            return default
        if region is not None:
            override = self.features.get("overrides", {}).get(region, {}).get(feature)
            if override is not None:
                return bool(override)
        return bool(spec.get("enabled", default))
