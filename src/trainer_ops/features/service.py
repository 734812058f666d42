"""Feature use cases: effective values from the snapshot (cached per version and place), changes as
new audited versions of the features document."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy.orm import Session

from trainer_ops.access.places import EMPTY_INDEX, PlaceIndex
from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Principal
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.errors import Conflict, Invalid, NotFound
from trainer_ops.features.types import KIND, effective_values, feature_view, global_values, value_at
from trainer_ops.versions.service import Change, DocumentService, HistoryPage
from trainer_ops.versions.snapshot import SnapshotHolder, VersionedDocument


class FeaturesService:
    def __init__(
        self,
        *,
        database: Database,
        writer: BatchWriter,
        documents: DocumentService,
        holder: SnapshotHolder,
        places: Callable[[], PlaceIndex] = lambda: EMPTY_INDEX,
    ) -> None:
        self._db = database
        self._writer = writer
        self._documents = documents
        self._holder = holder
        # The places catalogue in force: a place's parents, whose overrides it inherits (ADR 0027).
        self.places = places
        # (features version, catalogue version, place or None) -> serialised values: a move in the
        # catalogue changes what a place inherits, so both versions key the cache.
        self._bodies: dict[tuple[int, int, str | None], bytes] = {}
        self._lock = threading.Lock()

    def current(self) -> VersionedDocument:
        return self._holder.current.get(KIND)

    def values_body(self, place: str | None) -> tuple[bytes, int]:
        """The serialised {key: enabled} map at `place` (a region, country or branch code; None: the
        global defaults) and its version."""
        doc = self.current()
        # The global defaults depend on no catalogue: the hot path reads none (version 0).
        index = self.places() if place else EMPTY_INDEX
        cache_key = (doc.version, index.version, place)
        body = self._bodies.get(cache_key)
        if body is None:
            values = effective_values(doc.document, place, index) if place else global_values(doc.document)
            body = orjson.dumps(values)

            def fresh(key: tuple[int, int, str | None]) -> bool:
                return key[0] == doc.version and (key[2] is None or place is None or key[1] == index.version)

            with self._lock:
                if not all(fresh(k) for k in self._bodies):
                    self._bodies = {k: b for k, b in self._bodies.items() if fresh(k)}
                if len(self._bodies) < 10_000:
                    self._bodies[cache_key] = body
        return body, doc.version

    def is_region_overridable(self, key: str) -> bool:
        """False for an unknown key too: the caller is authorised first, then told the key is unknown."""
        spec = self.current().document["features"].get(key)
        return bool(spec and spec["regionOverridable"])

    def is_on(self, document: dict[str, Any], key: str, place: str | None) -> bool:
        """`key`'s value at `place` in `document` (one the caller took from the snapshot); unknown
        features are off."""
        if key not in document["features"]:
            return False
        return value_at(document, key, place, self.places() if place else EMPTY_INDEX)

    def detail(
        self,
        key: str,
        *,
        place: str | None,
        all_overrides: bool,
        visible: Callable[[str], bool] | None = None,
        as_region: bool = False,
    ) -> tuple[dict[str, Any], int]:
        doc = self.current()
        self._spec(doc.document, key)
        view = feature_view(
            doc.document,
            key,
            place=place,
            all_overrides=all_overrides,
            index=self.places(),
            visible=visible,
            as_region=as_region,
        )
        return view, doc.version

    def update(
        self,
        *,
        principal: Principal,
        key: str,
        place: str | None,
        changes: dict[str, Any],
        if_match: frozenset[int] | None,
        request_id: str,
    ) -> VersionedDocument:
        """Change the global default (place None), or set the override of a place (a region, country
        or branch: `enabled` true or false) or remove it (`enabled` None), so the place follows its
        parent again. `changes` holds only the fields the caller sent."""
        return self._change(
            principal, lambda document: self.change_of(document, key, place, changes), if_match, request_id
        )

    async def update_async(
        self,
        *,
        principal: Principal,
        key: str,
        place: str | None,
        changes: dict[str, Any],
        if_match: frozenset[int] | None,
        request_id: str,
    ) -> VersionedDocument:
        """`update` for the API's route, awaited on the event loop (no pool thread waits for the
        commit, ADR 0031). Publishing the new snapshot is in-memory work only."""
        doc = await self._writer.run_async(
            self._unit(
                principal,
                lambda document: self.change_of(document, key, place, changes),
                if_match,
                request_id,
            )
        )
        self._holder.publish(doc)
        return doc

    def change_of(
        self, document: dict[str, Any], key: str, place: str | None, changes: dict[str, Any]
    ) -> Change:
        """The features document with one feature changed: pure, so a change request can preview it.
        Overrides are kept by place code (codes are unique across levels, ADR 0023)."""
        spec = self._spec(document, key)
        if place is None:
            return _change_global(document, spec, key, changes)
        global_only = sorted(set(changes) - {"enabled"})
        if global_only:
            raise Invalid(
                "features.global_only",
                "regionOverridable and description are global; send them without ?region= or ?place=",
                errors=[
                    {"field": name, "message": "global setting; drop ?region= or ?place="}
                    for name in global_only
                ],
            )
        if "enabled" not in changes:
            raise Invalid(
                "features.enabled_required",
                "send enabled (true, false, or null to remove the place's override)",
                errors=[{"field": "enabled", "message": "required"}],
            )
        overrides = document["overrides"].setdefault(place, {})
        before = overrides.get(key)
        enabled = changes["enabled"]
        if enabled is None:
            overrides.pop(key, None)
        else:
            overrides[key] = enabled
        if not overrides:
            document["overrides"].pop(place)
        return Change(
            document,
            f"feature:{key}@{place}",
            {"enabled": before},
            {"enabled": enabled},
            details={"scope": place},
        )

    def create(
        self,
        *,
        principal: Principal,
        key: str,
        enabled: bool,
        region_overridable: bool,
        description: str,
        request_id: str,
    ) -> VersionedDocument:
        spec = {"enabled": enabled, "regionOverridable": region_overridable, "description": description}
        return self._change(
            principal, lambda document: self.creation_of(document, key, spec), None, request_id
        )

    @staticmethod
    def creation_of(document: dict[str, Any], key: str, spec: dict[str, Any]) -> Change:
        """The pure rule of a creation: the route's write and a change request replay it (ADR 0026)."""
        if key in document["features"]:
            raise Conflict("features.exists", f"feature {key!r} already exists; PATCH it instead")
        document["features"][key] = spec
        return Change(document, f"feature:{key}", None, spec)

    def history(self, *, cursor: int | None, limit: int) -> HistoryPage:
        with self._db.read() as session:
            return self._documents.history(session, KIND, cursor=cursor, limit=limit)

    def _change(
        self, principal: Principal, apply: Any, if_match: frozenset[int] | None, request_id: str
    ) -> VersionedDocument:
        doc = self._writer.run(self._unit(principal, apply, if_match, request_id))
        self._holder.publish(doc)
        return doc

    def _unit(
        self, principal: Principal, apply: Any, if_match: frozenset[int] | None, request_id: str
    ) -> Callable[[Session], VersionedDocument]:
        """The writer's unit of work for one change of the features document."""
        actor = actor_of(principal)
        return lambda session: self._documents.change(
            session, kind=KIND, actor=actor, if_match=if_match, apply=apply, request_id=request_id
        )

    @staticmethod
    def _spec(document: dict[str, Any], key: str) -> dict[str, Any]:
        spec = document["features"].get(key)
        if spec is None:
            known = ", ".join(sorted(document["features"]))
            raise NotFound("features.not_found", f"no feature {key!r}; known features: {known}")
        result: dict[str, Any] = spec
        return result


def _change_global(
    document: dict[str, Any], spec: dict[str, Any], key: str, updates: dict[str, Any]
) -> Change:
    if "enabled" in updates and updates["enabled"] is None:
        raise Invalid(
            "features.enabled_null",
            "enabled: null only removes a place's override; add ?place= (or ?region=) or send true/false",
            errors=[{"field": "enabled", "message": "may not be null"}],
        )
    if not updates:
        raise Invalid(
            "features.empty_update",
            "send at least one of enabled, regionOverridable, description",
            errors=[{"field": "body", "message": "no field to change"}],
        )
    touched = sorted(k for k, v in updates.items() if spec.get(k) != v)
    before = {k: spec.get(k) for k in touched}
    spec.update(updates)
    return Change(document, f"feature:{key}", before, {k: spec[k] for k in touched})
