"""Which activation an instance at a place runs, and which instances a scoped reload reaches (pure)."""

from __future__ import annotations

from trainer_ops.access.places import EMPTY_INDEX, PlaceIndex
from trainer_ops.engines.scopes import affected, chain, lane, resolve

INDEX = PlaceIndex.from_document(
    {
        "regions": [
            {
                "code": "APAC",
                "name": "Asia Pacific",
                "countries": [
                    {"code": "KR", "name": "Korea", "branches": [{"code": "KR-0012", "name": "G"}]}
                ],
            }
        ]
    },
    version=2,
)


def test_the_chain_runs_from_the_place_up_to_global() -> None:
    assert chain("KR-0012", INDEX) == ("KR-0012", "KR", "APAC", None)
    assert chain("APAC", INDEX) == ("APAC", None)
    assert chain(None, INDEX) == (None,)
    assert chain("KR-0012", EMPTY_INDEX) == ("KR-0012", None)  # nothing is known to be under anything


def test_the_most_specific_activation_wins_and_a_parent_never_takes_a_child_s() -> None:
    scoped = {"KR": "kr", "KR-0012": "branch"}
    assert resolve("KR-0012", INDEX, scoped, "global") == "branch"
    assert resolve("KR", INDEX, scoped, "global") == "kr"
    assert resolve("APAC", INDEX, scoped, "global") == "global"
    assert resolve("KR-0012", INDEX, {"APAC": "apac"}, "global") == "apac"


def test_a_reload_reaches_only_instances_without_a_more_specific_activation() -> None:
    assert affected("KR-0012", "KR", INDEX, {"KR-0012"}) is False  # the branch keeps its own
    assert affected("KR-0012", "KR", INDEX, set()) is True
    assert affected("KR", "KR-0012", INDEX, set()) is False  # a child's reload never reaches the parent
    assert affected(None, None, INDEX, {"KR"}) is True
    assert affected("KR", None, INDEX, {"KR"}) is False  # a global reload skips places with their own
    assert (lane("content", None), lane("content", "KR")) == ("content", "content@KR")
