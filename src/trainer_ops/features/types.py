"""Feature documents and the rules that derive effective values at a place: pure functions, no I/O."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from trainer_ops.access.places import EMPTY_INDEX, PlaceIndex, chain, normal_code
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
    the catalogue has it is checked after authorization (`features.places.known_place`), so a caller
    without rights learns nothing about which regions exist."""
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


def override_source(document: dict[str, Any], key: str, place: str | None, index: PlaceIndex) -> str | None:
    """The place whose override of `key` decides its value at `place`: the place itself, else its
    country, else its region (parents from the catalogue); None when the global default does."""
    overrides = document["overrides"]
    return next((code for code in chain(place, index) if code and key in overrides.get(code, {})), None)


def value_at(document: dict[str, Any], key: str, place: str | None, index: PlaceIndex) -> bool:
    """`key`'s effective value at `place`: the most specific override in its chain wins (ADR 0027)."""
    found = override_source(document, key, place, index)
    spec = document["features"][key]
    return bool(document["overrides"][found][key] if found else spec["enabled"])


def effective_values(
    document: dict[str, Any], place: str, index: PlaceIndex = EMPTY_INDEX
) -> dict[str, bool]:
    """Every feature's value at `place` (a region, country or branch code): its own override, else its
    country's, else its region's, else the global default. With an empty catalogue nothing is known to
    be above a place, so only its own overrides count (ADR 0023)."""
    return {key: value_at(document, key, place, index) for key in document["features"]}


def feature_view(
    document: dict[str, Any],
    key: str,
    *,
    place: str | None,
    all_overrides: bool,
    index: PlaceIndex = EMPTY_INDEX,
    visible: Callable[[str], bool] | None = None,
    as_region: bool = False,
) -> dict[str, Any]:
    """One feature: its default, and with `place` (a region, country or branch code) its value there,
    whether the place has an override of its own (`overridden`) and which place's override decides it
    (`overrideFrom`, None: the default). `as_region` also names the place `region`, as answers to
    `?region=` always have. `overrides` lists every place's override, or with `all_overrides` False only
    those in the place's chain and those `visible` admits (the caller's own scope)."""
    spec = document["features"][key]
    overrides = {r: vals[key] for r, vals in sorted(document["overrides"].items()) if key in vals}
    view: dict[str, Any] = {
        "key": key,
        "enabled": spec["enabled"],
        "defaultEnabled": spec["enabled"],
        "regionOverridable": spec["regionOverridable"],
        "description": spec.get("description", ""),
    }
    if place is not None:
        if as_region:
            view["region"] = place
        view["place"] = place
        view["enabled"] = value_at(document, key, place, index)
        view["overridden"] = place in overrides
        view["overrideFrom"] = override_source(document, key, place, index)
    if not all_overrides:
        shown = set(chain(place, index))
        overrides = {p: v for p, v in overrides.items() if p in shown or (visible is not None and visible(p))}
    view["overrides"] = overrides
    return view
