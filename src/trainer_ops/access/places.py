"""The places catalogue (regions > countries > branches) as an index, and scope containment: pure, no I/O.

It lives in `access` because everything that accepts a place code sits here or above it: token creation,
the authenticator (JWT claims), the trusted-proxy headers, and the policy's `own_scope`. The catalogue
document itself is versioned like every other document (kind `places`, ADR 0023); this module only reads
it. An index is built once per version (`PlaceCatalogue`), so checking a code is a dict lookup.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from trainer_ops.errors import Invalid, TrainerOpsError, Unauthorized

KIND = "places"
EMPTY_PLACES: dict[str, Any] = {"regions": []}

# Codes are case-insensitive and stored in upper case. The shape is the one feature regions have had
# since ADR 0005, so every code valid before the catalogue existed is still well-formed.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
_CODE = re.compile(CODE_PATTERN)
CODE_RULE = "letters, digits, '-' and '_', starting with a letter or digit, up to 32"
MAX_NAME = 200
LEVELS = ("region", "country", "branch")
PLURAL = {"region": "regions", "country": "countries", "branch": "branches"}
# How many known codes a refusal lists: enough to spot a typo, never a catalogue of 10,000 branches.
KNOWN_SHOWN = 20


def is_code(value: str) -> bool:
    return bool(_CODE.fullmatch(value))


def normal_code(value: str) -> str:
    return value.strip().upper()


@dataclass(frozen=True, slots=True)
class Place:
    code: str
    level: str
    name: str
    region: str | None = None  # the parents: a country's region, a branch's region and country
    country: str | None = None

    def parents(self) -> tuple[str, ...]:
        return tuple(code for code in (self.region, self.country) if code)


@dataclass(frozen=True)
class PlaceIndex:
    """Code -> place (its level and parents), from one version of the catalogue."""

    version: int = 0
    places: dict[str, Place] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.places

    @classmethod
    def from_document(cls, document: dict[str, Any], *, version: int) -> PlaceIndex:
        return cls(version=version, places={place.code: place for place in walk(document)})

    def codes(self, level: str) -> list[str]:
        return sorted(code for code, place in self.places.items() if place.level == level)

    def known(self, level: str) -> str:
        """The known codes of a level for a refusal's message: sorted, capped."""
        codes = self.codes(level)
        if not codes:
            return f"the catalogue has no {PLURAL[level]}"
        shown = ", ".join(codes[:KNOWN_SHOWN])
        more = f" (and {len(codes) - KNOWN_SHOWN} more)" if len(codes) > KNOWN_SHOWN else ""
        return f"known {PLURAL[level]}: {shown}{more}"

    def code_problem(self, code: str, *, what: str = "scope") -> PlaceProblem | None:
        """Why `code` names no place at any level (a reload's `scope`, an instance's `place`)."""
        if not is_code(code):
            return PlaceProblem("shape", what, code, f"{what} {code!r} is not a place code ({CODE_RULE})")
        if self.empty or code in self.places:
            return None
        message = f"{what} {code!r} is not in the places catalogue; " + "; ".join(
            self.known(level) for level in LEVELS
        )
        return PlaceProblem("unknown", what, code, message)

    def under(self, code: str, ancestor: str) -> bool:
        """Is `code` the place `ancestor` or below it?"""
        if code == ancestor:
            return True
        place = self.places.get(code)
        return place is not None and ancestor in place.parents()

    def problem(
        self, level: str, code: str, *, parents: dict[str, str | None] | None = None
    ) -> PlaceProblem | None:
        """Why `code` is not acceptable as a place of `level` (None: it is). With an empty catalogue only
        the shape counts. `parents` (level -> code) are the other places named beside it, which the
        catalogue must agree with: a country KR named with region EU is refused when KR is under APAC."""
        if not is_code(code):
            return PlaceProblem("shape", level, code, f"{level} {code!r} is not a place code ({CODE_RULE})")
        if self.empty:
            return None
        place = self.places.get(code)
        if place is None or place.level != level:
            where = f" (it is a {place.level})" if place is not None else ""
            message = f"{level} {code!r} is not in the places catalogue{where}; {self.known(level)}"
            return PlaceProblem("unknown", level, code, message)
        for parent_level, named in (parents or {}).items():
            actual = place.region if parent_level == "region" else place.country
            if named and actual and named != actual:
                message = (
                    f"{level} {code!r} is under {parent_level} {actual!r}, not {named!r}; "
                    f"{self.known(parent_level)}"
                )
                return PlaceProblem("parent", parent_level, code, message)
        return None

    def scope_problem(
        self, *, region: str | None, country: str | None, branch: str | None
    ) -> PlaceProblem | None:
        """Why a principal's (or token's) places do not fit the catalogue (None when they do)."""
        named = {"region": region, "country": country, "branch": branch}
        for level in LEVELS:
            code = named[level]
            if code is None:
                continue
            above = {p: named[p] for p in LEVELS[: LEVELS.index(level)]}
            failure = self.problem(level, code, parents=above)
            if failure:
                return failure
        return None


@dataclass(frozen=True, slots=True)
class PlaceProblem:
    kind: str  # shape | unknown | parent
    level: str  # the level whose input is at fault (for a parent mismatch: the parent's)
    code: str  # the code refused (for a parent mismatch: the child, which sits elsewhere)
    message: str


# The reasons of a refused place (ADR 0002's table): as request input (422), or in credentials (401).
_INPUT = {"shape": "places.bad_code", "unknown": "places.unknown", "parent": "places.wrong_parent"}
_CREDENTIALS = {"shape": "auth.bad_place", "unknown": "auth.unknown_place", "parent": "auth.unknown_place"}


def refused(problem: PlaceProblem, *, field: str | None = None, challenge: str = "") -> TrainerOpsError:
    """The error for a refused place: 422 naming `field` for request input; 401 with `challenge` (the
    WWW-Authenticate value) when the place came with the caller's credentials."""
    if challenge:
        return Unauthorized(
            _CREDENTIALS[problem.kind], problem.message, headers={"WWW-Authenticate": challenge}
        )
    errors = [{"field": field or problem.level, "message": problem.message}]
    return Invalid(_INPUT[problem.kind], problem.message, errors=errors)


def check_places(
    index: PlaceIndex,
    *,
    region: str | None = None,
    country: str | None = None,
    branch: str | None = None,
    fields: dict[str, str] | None = None,
) -> None:
    """Raise 422 when the named places do not fit the catalogue; `fields` names each level's input."""
    failure = index.scope_problem(region=region, country=country, branch=branch)
    if failure:
        raise refused(failure, field=(fields or {}).get(failure.level))


def normal(value: str | None) -> str | None:
    """A code as stored (upper case), or None."""
    return normal_code(value) if value is not None else None


EMPTY_INDEX = PlaceIndex()


def walk(document: dict[str, Any]) -> Iterator[Place]:
    """Every place of a (normalised, validated) catalogue document, parents first."""
    for region in document.get("regions", []):
        yield Place(region["code"], "region", region["name"])
        for country in region.get("countries", []):
            yield Place(country["code"], "country", country["name"], region=region["code"])
            for branch in country.get("branches", []):
                yield Place(
                    branch["code"], "branch", branch["name"], region=region["code"], country=country["code"]
                )


def duplicate_errors(document: dict[str, Any]) -> tuple[list[str], list[dict[str, str]]]:
    """Codes used twice anywhere in the catalogue, and an error at each repeat's path
    (`regions.0.countries.1.code`)."""
    seen: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    duplicates: list[str] = []
    for path, code in _coded_paths(document):
        if code in seen:
            errors.append({"field": path, "message": f"code {code!r} is used already at {seen[code]}"})
            duplicates.append(code)
        else:
            seen[code] = path
    return sorted(set(duplicates)), errors


def _coded_paths(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for r, region in enumerate(document.get("regions", [])):
        yield f"regions.{r}.code", region["code"]
        for c, country in enumerate(region.get("countries", [])):
            yield f"regions.{r}.countries.{c}.code", country["code"]
            for b, branch in enumerate(country.get("branches", [])):
                yield f"regions.{r}.countries.{c}.branches.{b}.code", branch["code"]


def chain(place: str | None, index: PlaceIndex) -> tuple[str | None, ...]:
    """`place` and its parents in the catalogue, most specific first, then None (global): the order in
    which a place inherits (scoped activations, ADR 0025; feature overrides, ADR 0027). With an empty
    catalogue (or a code it lacks) nothing is known to be above `place`."""
    if not place:
        return (None,)
    known = index.places.get(place)
    parents = tuple(reversed(known.parents())) if known is not None else ()
    return (place, *parents, None)


def most_specific(*, region: str | None, country: str | None, branch: str | None) -> str | None:
    """The most specific place a caller carries (its branch, else its country, else its region)."""
    return branch or country or region


def own_place(principal_role: str, *, region: str | None, country: str | None, branch: str | None) -> str:
    """The code of the caller's own level: a region operator's region, a country operator's country,
    a branch (or team) operator's branch; "" for roles without a place (admin, service)."""
    own = {"region": region, "country": country, "branch": branch, "team": branch}
    return own.get(principal_role) or ""


def within(
    principal_role: str,
    scope: str,
    index: PlaceIndex,
    *,
    region: str | None,
    country: str | None,
    branch: str | None,
) -> bool:
    """Is `scope` inside the caller's own place? The one containment rule (ADR 0023).

    A caller's scope is its own place and what the catalogue puts under it, never its parents: a country
    operator (KR under APAC) may name KR or a branch under KR, never APAC. With an empty catalogue
    nothing is known to be under anything, so only the places the caller itself carries count, at its
    level or below (a country operator with branch KR-0012 may name KR or KR-0012; region EU never).
    """
    own = own_place(principal_role, region=region, country=country, branch=branch)
    if not own:
        return False
    if not index.empty:
        return index.under(scope, own)
    carried = {"region": region, "country": country, "branch": branch}
    level = "branch" if principal_role == "team" else principal_role
    below = LEVELS[LEVELS.index(level) :]
    return scope in {carried[name] for name in below if carried[name]}


class PlaceCatalogue:
    """The index of the catalogue in force, rebuilt only when its version changes.

    `source()` gives the current (version, document), or None before the store is loaded (an empty
    catalogue: codes are checked for shape only)."""

    def __init__(self, source: Callable[[], tuple[int, dict[str, Any]] | None]) -> None:
        self._source = source
        self._index = EMPTY_INDEX
        self._lock = threading.Lock()

    def __call__(self) -> PlaceIndex:
        found = self._source()
        if found is None:
            return EMPTY_INDEX
        version, document = found
        index = self._index
        if index.version != version:
            with self._lock:
                if self._index.version != version:
                    self._index = PlaceIndex.from_document(document, version=version)
                index = self._index
        return index
