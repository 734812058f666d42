"""The Features page's matrix as plain values: one row per flag, one cell per column (the global default,
then a place each: a region, country or branch), and which cells the caller may switch, as the policy
decides. No I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainer_ops.access.places import PlaceIndex
from trainer_ops.access.types import Policy, Principal
from trainer_ops.features.types import is_region, override_source, value_at

# A page shows at most this many place columns; more would not fit a screen anyway.
MAX_COLUMNS = 40


@dataclass(frozen=True)
class Cell:
    region: str | None  # the place of the column (any level; None: the global default)
    enabled: bool  # the effective value in this column
    overridden: bool  # a place with an override of its own (False: it follows its parent)
    can_switch: bool
    can_reset: bool  # remove the place's override (back to its parent's value)
    inherited: str | None = None  # the parent place whose override it follows (None: the default)


@dataclass(frozen=True)
class Row:
    key: str
    description: str
    overridable: bool
    default: bool
    cells: list[Cell]


@dataclass(frozen=True)
class Grid:
    regions: list[str]  # the place columns, in order
    global_switches: bool  # the global column holds switches (else it is read-only text)
    rows: list[Row]


def parse_regions(raw: str) -> list[str]:
    """A comma list of place codes as the page carries them (hidden fields): well-formed ones only,
    upper-cased as the catalogue keeps codes."""
    found = [part.strip().upper() for part in raw.split(",")]
    return list(dict.fromkeys(code for code in found if code and is_region(code)))[:MAX_COLUMNS]


def region_columns(
    document: dict[str, Any],
    own_region: str | None,
    extra: list[str],
    visible: Callable[[str], bool] | None = None,
) -> list[str]:
    """Every place with an override, plus the ones asked to see; for a caller the policy limits to its
    own place, that place first and then only the places `visible` admits (those under it)."""
    if own_region is not None:
        below = {*document["overrides"], *extra} - {own_region}
        shown = sorted(code for code in below if visible is not None and visible(code))
        return [own_region, *shown][:MAX_COLUMNS]
    return sorted({*document["overrides"], *extra})[:MAX_COLUMNS]


def build_grid(
    document: dict[str, Any],
    *,
    policy: Policy,
    who: Principal,
    regions: list[str],
    global_switches: bool,
    keys: list[str] | None = None,
) -> Grid:
    rows = [
        _row(document, key, policy=policy, who=who, regions=regions, global_switches=global_switches)
        for key in (keys if keys is not None else sorted(document["features"]))
    ]
    return Grid(regions=regions, global_switches=global_switches, rows=rows)


def _row(
    document: dict[str, Any],
    key: str,
    *,
    policy: Policy,
    who: Principal,
    regions: list[str],
    global_switches: bool,
) -> Row:
    spec = document["features"][key]
    overridable = bool(spec["regionOverridable"])
    default = bool(spec["enabled"])
    allowed = policy.decide(who, "features.update", region=None, overridable=overridable).allowed
    cells = [Cell(None, default, False, global_switches and allowed, False)]
    index: PlaceIndex = policy.places
    for place in regions:
        may = policy.decide(
            who, "features.update", region=place, scope=place, overridable=overridable
        ).allowed
        has = key in document["overrides"].get(place, {})
        source = override_source(document, key, place, index)
        inherited = source if source != place else None
        value = value_at(document, key, place, index)
        cells.append(Cell(place, value, has, may, may and has, inherited))
    return Row(key, str(spec.get("description", "")), overridable, default, cells)


def history_of(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The entries of the features history that changed `key`: its creation, its global settings and
    every region's override (targets `feature:KEY` and `feature:KEY@REGION`)."""
    own = f"feature:{key}"
    out = []
    for item in items:
        target = str(item["target"])
        if target != own and not target.startswith(own + "@"):
            continue
        region = target.partition("@")[2] or None
        out.append({**item, "region": region, "fields": _fields(item["before"], item["after"])})
    return out


def _fields(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """(field, old, new) for each field the change touched; None where a side has no value."""
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    return [(name, old.get(name), new.get(name)) for name in dict.fromkeys([*old, *new])]
