"""Feature values at a place (ADR 0027): the most specific override in the place's chain wins (branch,
then country, then region, then the global default), with parents from the places catalogue."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from trainer_ops.access.places import EMPTY_INDEX, PlaceIndex
from trainer_ops.features.types import (
    DEFAULT_FEATURES,
    effective_values,
    feature_view,
    override_source,
    value_at,
)

CATALOGUE = PlaceIndex.from_document(
    {
        "regions": [
            {
                "code": "APAC",
                "name": "Asia Pacific",
                "countries": [
                    {
                        "code": "KR",
                        "name": "Korea",
                        "branches": [
                            {"code": "KR-0012", "name": "Gangnam"},
                            {"code": "KR-0013", "name": "Mapo"},
                        ],
                    },
                    {"code": "JP", "name": "Japan", "branches": [{"code": "JP-0001", "name": "Shibuya"}]},
                ],
            },
            {"code": "EU", "name": "Europe", "countries": []},
        ]
    },
    version=3,
)
KEY = "quiz_auto_generate"  # off by default


def document(**overrides: dict[str, bool]) -> dict[str, Any]:
    doc = copy.deepcopy(DEFAULT_FEATURES)
    doc["overrides"] = overrides
    return doc


@pytest.mark.parametrize(
    ("place", "expected", "source"),
    [
        ("KR-0012", False, "KR-0012"),  # its own override wins over its country's and region's
        ("KR-0013", True, "KR"),  # no override of its own: its country's
        ("KR", True, "KR"),
        ("JP-0001", False, "APAC"),  # neither branch nor country: the region's
        ("JP", False, "APAC"),
        ("APAC", False, "APAC"),
        ("EU", False, None),  # nothing in its chain: the global default
        (None, False, None),
    ],
)
def test_the_most_specific_override_in_the_places_chain_wins(
    place: str | None, expected: bool, source: str | None
) -> None:
    doc = document(APAC={KEY: False}, KR={KEY: True}, **{"KR-0012": {KEY: False}})

    assert override_source(doc, KEY, place, CATALOGUE) == source
    assert value_at(doc, KEY, place, CATALOGUE) is expected


def test_a_region_override_reaches_its_branches_and_the_default_reaches_the_rest() -> None:
    doc = document(APAC={KEY: True})

    assert effective_values(doc, "KR-0012", CATALOGUE)[KEY] is True
    assert effective_values(doc, "EU", CATALOGUE)[KEY] is False
    assert effective_values(doc, "KR-0012", CATALOGUE)["mission_auto_assign"] is True  # not overridden


def test_a_parent_never_takes_its_childs_override() -> None:
    doc = document(**{"KR-0012": {KEY: True}})

    assert value_at(doc, KEY, "KR", CATALOGUE) is False
    assert value_at(doc, KEY, "APAC", CATALOGUE) is False
    assert value_at(doc, KEY, "KR-0012", CATALOGUE) is True


def test_with_an_empty_catalogue_only_the_places_own_override_counts() -> None:
    doc = document(APAC={KEY: True}, KR={KEY: True})

    assert value_at(doc, KEY, "KR-0012", EMPTY_INDEX) is False
    assert value_at(doc, KEY, "KR", EMPTY_INDEX) is True


def test_a_place_the_catalogue_lacks_has_no_parents() -> None:
    doc = document(APAC={KEY: True})

    assert value_at(doc, KEY, "XX-0001", CATALOGUE) is False


def test_the_view_at_a_branch_names_the_place_whose_override_decides() -> None:
    doc = document(APAC={KEY: True}, JP={KEY: False}, **{"KR-0012": {"mission_auto_assign": False}})

    view = feature_view(doc, KEY, place="KR-0012", all_overrides=True, index=CATALOGUE)

    assert (view["enabled"], view["overridden"], view["overrideFrom"]) == (True, False, "APAC")
    assert view["place"] == "KR-0012"
    assert "region" not in view
    assert view["overrides"] == {"APAC": True, "JP": False}


def test_the_limited_view_shows_the_chain_and_the_places_the_caller_may_see() -> None:
    doc = document(APAC={KEY: True}, JP={KEY: False}, EU={KEY: True}, **{"KR-0012": {KEY: False}})
    below_kr = {"KR", "KR-0012", "KR-0013"}

    view = feature_view(
        doc, KEY, place="KR", all_overrides=False, index=CATALOGUE, visible=below_kr.__contains__
    )

    assert view["overrides"] == {"APAC": True, "KR-0012": False}
