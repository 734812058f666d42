"""Feature documents: global values, a region's effective values, and the one-feature view."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from trainer_ops.features.types import (
    DEFAULT_FEATURES,
    effective_values,
    feature_view,
    global_values,
    is_region,
)


def document() -> dict[str, Any]:
    doc = copy.deepcopy(DEFAULT_FEATURES)
    doc["overrides"] = {
        "EU": {"mission_auto_assign": False, "quiz_auto_generate": True},
        "US": {"mission_auto_assign": True},
    }
    return doc


def test_global_values_are_the_defaults_in_document_order() -> None:
    values = global_values(document())

    assert values == {
        "mission_auto_assign": True,
        "insight_generation": True,
        "quiz_auto_generate": False,
        "content_ai_transform": True,
    }
    assert list(values) == [
        "mission_auto_assign",
        "insight_generation",
        "quiz_auto_generate",
        "content_ai_transform",
    ]


def test_effective_values_apply_the_regions_overrides_over_the_defaults() -> None:
    assert effective_values(document(), "EU") == {
        "mission_auto_assign": False,
        "insight_generation": True,
        "quiz_auto_generate": True,
        "content_ai_transform": True,
    }


def test_effective_values_of_a_region_without_overrides_are_the_defaults() -> None:
    doc = document()

    assert effective_values(doc, "APAC") == global_values(doc)


def test_effective_values_ignore_another_regions_overrides() -> None:
    assert effective_values(document(), "US")["quiz_auto_generate"] is False


def test_effective_values_follow_a_changed_default_where_not_overridden() -> None:
    doc = document()
    doc["features"]["content_ai_transform"]["enabled"] = False

    assert effective_values(doc, "EU")["content_ai_transform"] is False


def test_feature_view_without_region_shows_default_and_every_override() -> None:
    view = feature_view(document(), "mission_auto_assign", place=None, all_overrides=True)

    assert view == {
        "key": "mission_auto_assign",
        "enabled": True,
        "defaultEnabled": True,
        "regionOverridable": True,
        "description": "Assign missions to staff automatically.",
        "overrides": {"EU": False, "US": True},
    }


def test_feature_view_for_an_overridden_region_shows_its_value() -> None:
    view = feature_view(document(), "mission_auto_assign", place="EU", all_overrides=True, as_region=True)

    assert view["enabled"] is False
    assert view["defaultEnabled"] is True
    assert (view["region"], view["place"]) == ("EU", "EU")
    assert view["overridden"] is True
    assert view["overrideFrom"] == "EU"


def test_feature_view_for_a_region_without_override_follows_the_default() -> None:
    view = feature_view(document(), "insight_generation", place="EU", all_overrides=True)

    assert view["enabled"] is True
    assert view["overridden"] is False
    assert view["overrideFrom"] is None
    assert "region" not in view
    assert view["overrides"] == {}


def test_feature_view_limited_to_own_region_hides_other_regions() -> None:
    view = feature_view(document(), "mission_auto_assign", place="EU", all_overrides=False)

    assert view["overrides"] == {"EU": False}


def test_feature_view_without_description_shows_empty_text() -> None:
    doc = document()
    del doc["features"]["insight_generation"]["description"]

    assert feature_view(doc, "insight_generation", place=None, all_overrides=True)["description"] == ""


@pytest.mark.parametrize("region", ["EU", "us-east_1", "A", "x" * 32])
def test_is_region_accepts_codes(region: str) -> None:
    assert is_region(region)


@pytest.mark.parametrize("region", ["", "-EU", "E U", "x" * 33, "EU/1", "ü"])
def test_is_region_refuses_other_text(region: str) -> None:
    assert not is_region(region)


def test_is_region_refuses_a_trailing_newline() -> None:
    # re.match with '$' matches before a trailing newline; is_region must match the whole text.
    assert not is_region("EU\n")
