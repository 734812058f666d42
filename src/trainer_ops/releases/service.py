"""Release use cases: create (semver, strictly increasing, immutable, a snapshot of engines and config),
list with the current one marked, and roll back to a release's snapshot, all or nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import semver
from sqlalchemy.orm import Session

from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Principal
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import Action
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.engines.service import EngineService
from trainer_ops.errors import Conflict, Invalid, NotFound
from trainer_ops.infra.clock import Clock
from trainer_ops.releases.models import ReleaseEventRow, ReleaseRow
from trainer_ops.releases.store import ReleaseStore
from trainer_ops.versions.service import DocumentService
from trainer_ops.versions.snapshot import SnapshotHolder, VersionedDocument

CONFIG_KINDS = ("model_config", "features", "limits")


@dataclass(frozen=True)
class NewRelease:
    version: str
    notes: str
    included_engines: list[str]


def parse_version(text: str) -> semver.Version:
    try:
        return semver.Version.parse(text)
    except (ValueError, TypeError):
        raise Invalid(
            "releases.bad_version",
            f"version {text!r} is not a semantic version (MAJOR.MINOR.PATCH)",
            errors=[{"field": "version", "message": "not a semantic version 2.0"}],
        ) from None


class ReleaseService:
    def __init__(
        self,
        *,
        database: Database,
        writer: BatchWriter,
        audit: AuditService,
        engines: EngineService,
        documents: DocumentService,
        holder: SnapshotHolder,
        clock: Clock,
        store: ReleaseStore | None = None,
    ) -> None:
        self._db = database
        self._writer = writer
        self._audit = audit
        self._engines = engines
        self._documents = documents
        self._holder = holder
        self._clock = clock
        self._store = store or ReleaseStore()

    def create(self, *, principal: Principal, new: NewRelease, request_id: str) -> dict[str, Any]:
        wanted = parse_version(new.version)
        engines = []
        for name in new.included_engines:
            engine = self._engines.engine_name(name)
            if engine not in engines:
                engines.append(engine)
        registry = self._engines.registry
        snapshot = {
            "engines": {
                e: {"targetId": c.target_id, "digest": c.digest, "version": c.version}
                for e in engines
                if (c := registry.slot(e).active) is not None
            },
            # Every scoped activation of the included engines too: a rollback restores them (ADR 0025).
            "scoped": {
                e: {
                    scope: {"targetId": c.target_id, "digest": c.digest, "version": c.version}
                    for scope, c in sorted(registry.slot(e).scoped.items())
                }
                for e in engines
                if registry.slot(e).scoped
            },
            "config": {kind: self._holder.current.get(kind).version for kind in CONFIG_KINDS},
        }
        actor = actor_of(principal)

        def unit(session: Session) -> ReleaseRow:
            latest = max((parse_version(r.version) for r in self._store.all(session)), default=None)
            if latest is not None and wanted <= latest:
                raise Conflict(
                    "releases.version_not_greater",
                    f"version {new.version} must be greater than the latest release {latest}",
                    extra={"latestVersion": str(latest)},
                )
            row = ReleaseRow(
                version=str(wanted),
                notes=new.notes,
                date=int(self._clock.now()),
                included_engines=orjson.dumps(engines).decode(),
                snapshot=orjson.dumps(snapshot).decode(),
                created_by=actor.user_id,
            )
            self._store.add(session, row)
            self._event(session, row.version, "publish", actor.user_id, request_id)
            self._audit.append(
                session,
                actor=actor,
                action=Action.PUBLISH,
                target=f"release:{row.version}",
                after={"version": row.version, "includedEngines": engines, "snapshot": snapshot},
                request_id=request_id,
                details={"kind": "create"},
            )
            return row

        row = self._writer.run(unit)
        return self._view(row, current=row.version)

    def list_releases(self) -> list[dict[str, Any]]:
        with self._db.read() as session:
            rows = self._store.all(session)
            current = self._store.current_version(session)
        rows.sort(key=lambda r: parse_version(r.version))
        return [self._view(r, current=current) for r in rows]

    def rollback(self, *, principal: Principal, target_version: str, request_id: str) -> dict[str, Any]:
        """Put the engines and the config of `target_version` back, all or nothing (409 if an engine
        refuses; then nothing changed)."""
        with self._db.read() as session:
            row = self._store.find(session, target_version)
            current = self._store.current_version(session)
        if row is None:
            raise NotFound(
                "releases.not_found", f"no release {target_version!r}; GET /operator/ops/releases lists them"
            )
        snapshot = orjson.loads(row.snapshot)
        plan = {engine: target["targetId"] for engine, target in snapshot["engines"].items()}
        # Releases made before scoped activations have no "scoped": every place then ran the global one.
        recorded = snapshot.get("scoped", {})
        scoped = {
            engine: self._engines.scoped_restore_plan(
                engine,
                recorded={s: t["targetId"] for s, t in recorded.get(engine, {}).items()},
                global_target=target,
            )
            for engine, target in plan.items()
        }
        details = {"kind": "rollback", "from": current, "to": row.version}
        registry = self._engines.registry
        before = {e: c.target_id for e in plan if (c := registry.slot(e).active) is not None}
        before_scoped = {e: self._engines.scoped_targets(e) for e in plan}
        outcome = self._engines.activate_many(
            principal=principal, plan=plan, request_id=request_id, details=details, scoped=scoped
        )
        actor = actor_of(principal)

        def unit(session: Session) -> list[VersionedDocument]:
            restored = [
                self._documents.restore(
                    session,
                    kind=kind,
                    version=version,
                    actor=actor,
                    request_id=request_id,
                    action=Action.PUBLISH,
                )
                for kind, version in snapshot["config"].items()
            ]
            self._event(session, row.version, "rollback", actor.user_id, request_id)
            self._audit.append(
                session,
                actor=actor,
                action=Action.PUBLISH,
                target=f"release:{row.version}",
                before={"current": current},
                after={"current": row.version, "snapshot": snapshot},
                request_id=request_id,
                details={**details, "durationMs": round(outcome.duration_ms, 2)},
            )
            return restored

        try:
            restored = self._writer.run(unit)
        except Exception:
            # The config could not be restored: the engines go back too, so nothing changed.
            self._engines.activate_many(
                principal=principal,
                plan=before,
                request_id=request_id,
                details={**details, "kind": "rollback-undo"},
                scoped=before_scoped,
            )
            raise
        for doc in restored:
            self._holder.publish(doc)
        return {
            **self._view(row, current=row.version),
            "status": "rolled_back",
            "previousVersion": current,
            "durationMs": round(outcome.duration_ms, 2),
        }

    def _event(self, session: Session, version: str, kind: str, user: str, request_id: str) -> None:
        self._store.add_event(
            session,
            ReleaseEventRow(
                version=version,
                kind=kind,
                actor_user_id=user,
                request_id=request_id,
                created_at_ms=int(self._clock.now() * 1000),
            ),
        )

    @staticmethod
    def _view(row: ReleaseRow, *, current: str | None) -> dict[str, Any]:
        return {
            "version": row.version,
            "notes": row.notes,
            "date": row.date,
            "includedEngines": orjson.loads(row.included_engines),
            "current": row.version == current,
            "snapshot": orjson.loads(row.snapshot),
            "createdBy": row.created_by,
        }
