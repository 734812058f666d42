"""Feature documents and the rules that derive effective values: pure functions, no I/O."""

from __future__ import annotations

import re
from typing import Any

from trainer_ops.access.places import normal_code
from trainer_ops.errors import Invalid

KIND = "features"

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
REGION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
_REGION = re.compile(REGION_PATTERN)

# Spec 2.1's example values are a fresh store's defaults. Which ones regions may override is our
# decision (docs/adr/0005): assignment, quizzes and content transforms are local training choices;
# insight generation feeds cross-region reporting, so it stays global.
DEFAULT_FEATURES: dict[str, Any] = {
    "features": {
        "mission_auto_assign": {
            "enabled": True,
            "regionOverridable": True,
            "description": "Assign missions to staff automatically.",
        },
        "insight_generation": {
            "enabled": True,
            "regionOverridable": False,
            "description": "Generate AI insights from training results.",
        },
        "quiz_auto_generate": {
            "enabled": False,
            "regionOverridable": True,
            "description": "Generate quizzes from content automatically.",
        },
        "content_ai_transform": {
            "enabled": True,
            "regionOverridable": True,
            "description": "Let the AI transform uploaded training content.",
        },
    },
    "overrides": {},
}


def is_region(value: str) -> bool:
    return bool(_REGION.fullmatch(value))


def checked_region(region: str | None) -> str | None:
    """`region` when it is a region code (or None), in upper case as the catalogue stores codes; else
    Invalid (features.bad_region), with the same code and reason for the API and the console. Whether
    the catalogue has it is checked after authorization (`known_region`), so a caller without rights
    learns nothing about which regions exist."""
    if region is None:
        return None
    if not is_region(region):
        raise Invalid(
            "features.bad_region",
            f"region {region!r} is not a region code",
            errors=[{"field": "region", "message": "letters, digits, '-' and '_', up to 32"}],
        )
    return normal_code(region)


def global_values(document: dict[str, Any]) -> dict[str, bool]:
    return {key: bool(spec["enabled"]) for key, spec in document["features"].items()}


def effective_values(document: dict[str, Any], region: str) -> dict[str, bool]:
    """A region's override wins over the global default; a feature without one follows the default."""
    overrides = document["overrides"].get(region, {})
    return {key: bool(overrides.get(key, spec["enabled"])) for key, spec in document["features"].items()}


def feature_view(
    document: dict[str, Any], key: str, *, region: str | None, all_overrides: bool
) -> dict[str, Any]:
    spec = document["features"][key]
    overrides = {r: vals[key] for r, vals in sorted(document["overrides"].items()) if key in vals}
    view: dict[str, Any] = {
        "key": key,
        "enabled": spec["enabled"],
        "defaultEnabled": spec["enabled"],
        "regionOverridable": spec["regionOverridable"],
        "description": spec.get("description", ""),
    }
    if region is not None:
        view["region"] = region
        view["enabled"] = overrides.get(region, spec["enabled"])
        view["overridden"] = region in overrides
    view["overrides"] = overrides if all_overrides else {r: v for r, v in overrides.items() if r == region}
    return view
