"""Scoped activations as values (ADR 0025): which activation an instance of some place runs, and which
instances a scoped reload asks. Pure, no I/O.

An engine has one global activation (scope None) and at most one per place code. An instance runs the
activation of its most specific place that has one (its branch, then its country, then its region), else
the global one. The chain of places comes from the catalogue: with an empty catalogue nothing is known
to be under anything, so an instance's chain is its own place only (as ADR 0023's containment).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TypeVar

from trainer_ops.access.places import PlaceIndex, chain

__all__ = ["affected", "chain", "lane", "resolve", "source"]

T = TypeVar("T")


def source(place: str | None, index: PlaceIndex, scoped: Collection[str]) -> str | None:
    """The scope whose activation an instance at `place` runs (None: the global one)."""
    return next((code for code in chain(place, index) if code is None or code in scoped), None)


def resolve(place: str | None, index: PlaceIndex, scoped: Mapping[str, T], fallback: T) -> T:
    """What an instance at `place` runs: its most specific place's activation, else `fallback`."""
    found = source(place, index, scoped)
    return scoped[found] if found is not None else fallback


def affected(place: str | None, scope: str | None, index: PlaceIndex, scoped: Collection[str]) -> bool:
    """Does an activation at `scope` reach an instance at `place`? Only if no place more specific than
    `scope` in the instance's chain has an activation of its own: those keep running theirs."""
    return source(place, index, {*scoped, *([scope] if scope else [])}) == scope


def lane(engine: str, scope: str | None) -> str:
    """One reload round's key for an engine at a scope: `content`, `content@KR`."""
    return f"{engine}@{scope}" if scope else engine
