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
    # The place this activation holds for; None: the global activation.
    scope: str | None = None


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
    # What this client runs: for a client with a place, that place's rulesets (most specific wins).
    rulesets: dict[str, Ruleset] = Field(default_factory=dict)
    # Every scoped activation, engine -> place code -> ruleset: lets a client follow scoped changes.
    scopedRulesets: dict[str, dict[str, Ruleset]] = Field(default_factory=dict)

    def chain(self, place: str | None) -> list[str | None]:
        """`place` and its parents in the places catalogue, most specific first, then None (global)."""
        if not place:
            return [None]
        for region in self.places.get("regions", []):
            if region.get("code") == place:
                return [place, None]
            for country in region.get("countries", []):
                if country.get("code") == place:
                    return [place, region.get("code"), None]
                for branch in country.get("branches", []):
                    if branch.get("code") == place:
                        return [place, country.get("code"), region.get("code"), None]
        return [place, None]

    def source(self, engine: str, place: str | None) -> str | None:
        """The scope whose activation of `engine` a client at `place` runs (None: the global one)."""
        scoped = self.scopedRulesets.get(engine, {})
        return next((code for code in self.chain(place) if code is None or code in scoped), None)

    def override_source(self, feature: str, place: str | None) -> str | None:
        """The place whose override of `feature` decides its value at `place`: the place itself, else
        its country, else its region; None when the global default does."""
        overrides = self.features.get("overrides", {})
        return next((code for code in self.chain(place) if code and feature in overrides.get(code, {})), None)

    def is_enabled(
        self, feature: str, region: str | None = None, default: bool = False, *, place: str | None = None
    ) -> bool:
        """`feature`'s value at `place` (or `region`: any place code): the most specific override in the
        place's chain (branch, country, region) wins, else the global default; `default` for unknown
        flags. With neither, the global default."""
        spec = self.features.get("features", {}).get(feature)
        if spec is None:
            return default
        found = self.override_source(feature, _code(place or region))
        if found is not None:
            return bool(self.features["overrides"][found][feature])
        return bool(spec.get("enabled", default))


def _code(value: str | None) -> str | None:
    """A place code as the server keeps it (upper case)."""
    return value.strip().upper() if value else None
