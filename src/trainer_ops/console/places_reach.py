"""The places an operator may name in a console form (a reload's place): their own place and what the
places catalogue puts under it (`access.types.contains`, the policy's own containment rule, ADR 0023),
every place for an admin. The form offers only these; the server checks the posted code again."""

from __future__ import annotations

from dataclasses import dataclass

from trainer_ops.access.places import PlaceIndex
from trainer_ops.access.types import Principal, contains


@dataclass(frozen=True)
class PlaceOption:
    code: str
    name: str
    depth: int  # 0 region, 1 country, 2 branch: how far the option is indented


DEPTH = {"region": 0, "country": 1, "branch": 2}


def reachable(who: Principal, places: PlaceIndex) -> list[PlaceOption] | None:
    """The places `who` may name, parents first (the catalogue's order); None when the catalogue is
    empty: nothing is known then, so the form takes a code as text and the server checks its shape
    and the caller's own places (ADR 0023)."""
    if places.empty:
        return None
    return [
        PlaceOption(place.code, place.name, DEPTH[place.level])
        for place in places.places.values()
        if contains(who, place.code, places)
    ]
