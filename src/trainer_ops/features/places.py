"""Which place a feature read or change is for (ADR 0027): `?place=` or `?region=`, the caller's own place
when the policy limits it to that, authorised and checked against the places catalogue. Shared by the
API's routes and the console's page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Query, Request

from trainer_ops.access.places import EMPTY_INDEX, normal_code, refused
from trainer_ops.access.types import Principal, contains
from trainer_ops.errors import Invalid
from trainer_ops.features.types import checked_region
from trainer_ops.http.context import edge_of
from trainer_ops.http.guard import authorize, known_scope, scoped_place

REGION_QUERY = Query(
    None, description="a region: read or change the values in force there (for any level, use `place`)"
)
PLACE_QUERY = Query(
    None,
    description="a region, country or branch code: read or change the values in force there (its own "
    "override, else its country's, else its region's, else the global default)",
)


@dataclass(frozen=True, slots=True)
class Asked:
    """The place a request is about (None: the global defaults), how it was named, and the policy's
    view of the caller for the operation."""

    place: str | None
    via_region: bool = False  # named as a region (`?region=`): the answer also names it `region`
    view: str = "full"

    @property
    def full(self) -> bool:
        return self.view == "full"


def asked_place(region: str | None, place: str | None) -> Asked:
    """The place named by `?region=` or `?place=` (not both), shape-checked and upper-cased. Whether
    the catalogue has it is checked after authorization (`known_place`)."""
    if region is not None and place is not None:
        raise Invalid(
            "features.place_and_region",
            "name the place once: ?place= (any level) or ?region= (a region), not both",
            errors=[{"field": "region", "message": "drop ?region= when sending ?place="}],
        )
    if place is not None:
        problem = EMPTY_INDEX.code_problem(place, what="place")
        if problem is not None:
            raise refused(problem, field="place")
        return Asked(normal_code(place))
    checked = checked_region(region)
    return Asked(checked, via_region=checked is not None)


async def authorized(request: Request, who: Principal, operation: str, asked: Asked, **attrs: Any) -> Asked:
    """`asked`, or the caller's own place when it names none and the policy limits it to that,
    authorised (`region` for the `own_region` condition, `scope` for `own_scope`) and then checked
    against the catalogue, so a caller without the right learns nothing about which places exist."""
    place = scoped_place(request, who, operation, asked.place)
    # A region operator's own region is answered as a region, as before places had levels.
    via_region = asked.via_region or (asked.place is None and place is not None and place == who.region)
    decision = await authorize(request, who, operation, region=place, scope=place, **attrs)
    found = Asked(place, via_region, decision.view)
    known_place(request, found)
    return found


def known_place(request: Request, asked: Asked) -> None:
    """422 when the catalogue has places and the place is not one of them. `?region=` must name a
    region; one naming a country or branch is told to use `?place=`."""
    if asked.place is None:
        return
    if not asked.via_region:
        known_scope(request, asked.place, field="place")
        return
    index = edge_of(request).policy().places
    problem = index.problem("region", asked.place)
    if problem is None:
        return
    found = index.places.get(asked.place)
    if found is not None:
        hint = f"; for the {found.level} {asked.place}, send ?place={asked.place}"
        problem = replace(problem, message=problem.message + hint)
    raise refused(problem, field="region")


def visible_to(request: Request, who: Principal) -> Callable[[str], bool]:
    """Whether the override at a place is the caller's to see: its own place and what lies under it."""
    index = edge_of(request).policy().places
    return lambda code: contains(who, code, index)
