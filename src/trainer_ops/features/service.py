"""Feature use cases: effective values from the snapshot (cached per version and region), changes as
new audited versions of the features document."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy.orm import Session

from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Principal
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.errors import Conflict, Invalid, NotFound
from trainer_ops.features.types import KIND, effective_values, feature_view, global_values
from trainer_ops.versions.service import Change, DocumentService, HistoryPage
from trainer_ops.versions.snapshot import SnapshotHolder, VersionedDocument


class FeaturesService:
    def __init__(
        self, *, database: Database, writer: BatchWriter, documents: DocumentService, holder: SnapshotHolder
    ) -> None:
        self._db = database
        self._writer = writer
        self._documents = documents
        self._holder = holder
        # (version, region or None) -> serialised values; rebuilt lazily after each change.
        self._bodies: dict[tuple[int, str | None], bytes] = {}
        self._lock = threading.Lock()

    def current(self) -> VersionedDocument:
        return self._holder.current.get(KIND)

    def values_body(self, region: str | None) -> tuple[bytes, int]:
        """The serialised {key: enabled} map for `region` (None: the global defaults) and its version."""
        doc = self.current()
        cache_key = (doc.version, region)
        body = self._bodies.get(cache_key)
        if body is None:
            values = effective_values(doc.document, region) if region else global_values(doc.document)
            body = orjson.dumps(values)
            with self._lock:
                if any(v != doc.version for v, _ in self._bodies):
                    self._bodies = {k: b for k, b in self._bodies.items() if k[0] == doc.version}
                if len(self._bodies) < 10_000:
                    self._bodies[cache_key] = body
        return body, doc.version

    def is_region_overridable(self, key: str) -> bool:
        """False for an unknown key too: the caller is authorised first, then told the key is unknown."""
        spec = self.current().document["features"].get(key)
        return bool(spec and spec["regionOverridable"])

    def detail(self, key: str, *, region: str | None, all_overrides: bool) -> tuple[dict[str, Any], int]:
        doc = self.current()
        self._spec(doc.document, key)
        return feature_view(doc.document, key, region=region, all_overrides=all_overrides), doc.version

    def update(
        self,
        *,
        principal: Principal,
        key: str,
        region: str | None,
        changes: dict[str, Any],
        if_match: frozenset[int] | None,
        request_id: str,
    ) -> VersionedDocument:
        """Change the global default (region None), or set a region's override (`enabled` true or
        false) or remove it (`enabled` None). `changes` holds only the fields the caller sent."""
        return self._change(
            principal, lambda document: self.change_of(document, key, region, changes), if_match, request_id
        )

    async def update_async(
        self,
        *,
        principal: Principal,
        key: str,
        region: str | None,
        changes: dict[str, Any],
        if_match: frozenset[int] | None,
        request_id: str,
    ) -> VersionedDocument:
        """`update` for the API's route, awaited on the event loop (no pool thread waits for the
        commit, ADR 0031). Publishing the new snapshot is in-memory work only."""
        doc = await self._writer.run_async(
            self._unit(
                principal,
                lambda document: self.change_of(document, key, region, changes),
                if_match,
                request_id,
            )
        )
        self._holder.publish(doc)
        return doc

    def change_of(
        self, document: dict[str, Any], key: str, region: str | None, changes: dict[str, Any]
    ) -> Change:
        """The features document with one feature changed: pure, so a change request can preview it."""
        spec = self._spec(document, key)
        if region is None:
            return _change_global(document, spec, key, changes)
        global_only = sorted(set(changes) - {"enabled"})
        if global_only:
            raise Invalid(
                "features.global_only",
                "regionOverridable and description are global; send them without ?region=",
                errors=[{"field": name, "message": "global setting; drop ?region="} for name in global_only],
            )
        if "enabled" not in changes:
            raise Invalid(
                "features.enabled_required",
                "send enabled (true, false, or null to remove the region's override)",
                errors=[{"field": "enabled", "message": "required"}],
            )
        overrides = document["overrides"].setdefault(region, {})
        before = overrides.get(key)
        enabled = changes["enabled"]
        if enabled is None:
            overrides.pop(key, None)
        else:
            overrides[key] = enabled
        if not overrides:
            document["overrides"].pop(region)
        return Change(document, f"feature:{key}@{region}", {"enabled": before}, {"enabled": enabled})

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
        def apply(document: dict[str, Any]) -> Change:
            if key in document["features"]:
                raise Conflict("features.exists", f"feature {key!r} already exists; PATCH it instead")
            spec = {"enabled": enabled, "regionOverridable": region_overridable, "description": description}
            document["features"][key] = spec
            return Change(document, f"feature:{key}", None, spec)

        return self._change(principal, apply, None, request_id)

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
            "enabled: null only removes a region's override; add ?region= or send true/false",
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
