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

    def create(
        self,
        *,
        principal: Principal,
        new: NewRelease,
        request_id: str,
        expect_releases: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`expect_releases`: refuse (409 releases.moved) unless there are still that many releases, in
        the unit that adds this one (a change request's base, ADR 0026); `details` go into its audit."""
        wanted = parse_version(new.version)
        engines = self.engine_names(new.included_engines)
        snapshot = self.snapshot_now(engines)
        actor = actor_of(principal)

        def unit(session: Session) -> ReleaseRow:
            rows = self._store.all(session)
            if expect_releases is not None and len(rows) != expect_releases:
                raise Conflict(
                    "releases.moved",
                    f"a release was created since this one was asked for ({expect_releases} then, "
                    f"{len(rows)} now); nothing changed",
                    extra={"currentVersion": len(rows)},
                )
            self._check_greater(rows, wanted)
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
                details={"kind": "create", **(details or {})},
            )
            return row

        row = self._writer.run(unit)
        return self._view(row, current=row.version)

    def create_base(self, new: NewRelease) -> tuple[int, str | None]:
        """The checks a create would meet (422 bad version or engine, 409 not greater than the latest),
        and how many releases there are and the newest: what a held create is asked against."""
        wanted = parse_version(new.version)
        self.engine_names(new.included_engines)
        with self._db.read() as session:
            rows = self._store.all(session)
        latest = self._check_greater(rows, wanted)
        return len(rows), str(latest) if latest is not None else None

    def engine_names(self, names: list[str]) -> list[str]:
        engines: list[str] = []
        for name in names:
            engine = self._engines.engine_name(name)
            if engine not in engines:
                engines.append(engine)
        return engines

    @staticmethod
    def _check_greater(rows: list[ReleaseRow], wanted: semver.Version) -> semver.Version | None:
        latest = max((parse_version(r.version) for r in rows), default=None)
        if latest is not None and wanted <= latest:
            raise Conflict(
                "releases.version_not_greater",
                f"version {wanted} must be greater than the latest release {latest}",
                extra={"latestVersion": str(latest)},
            )
        return latest

    def snapshot_now(self, engines: list[str]) -> dict[str, Any]:
        """What a release of `engines` records now: their active rulesets and the config versions."""
        registry = self._engines.registry
        return {
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

    def list_releases(self) -> list[dict[str, Any]]:
        with self._db.read() as session:
            rows = self._store.all(session)
            current = self._store.current_version(session)
        rows.sort(key=lambda r: parse_version(r.version))
        return [self._view(r, current=current) for r in rows]

    def rollback_base(self, target_version: str) -> tuple[int, str | None]:
        """404 for an unknown release, else where the history stands (the newest publish or rollback's
        id) and the current release: what a held rollback is asked against (ADR 0026)."""
        with self._db.read() as session:
            row = self._store.find(session, target_version)
            current = self._store.current_version(session)
            event = self._store.newest_event_id(session)
        if row is None:
            raise NotFound(
                "releases.not_found", f"no release {target_version!r}; GET /operator/ops/releases lists them"
            )
        return event, current

    def rollback_preview(self, target_version: str) -> dict[str, Any]:
        """What a rollback to `target_version` would change now: the engines and config in force
        (`before`) and the release's (`after`), and where the history stands (`currentVersion`)."""
        event, current = self.rollback_base(target_version)
        with self._db.read() as session:
            row = self._store.find(session, target_version)
        snapshot = orjson.loads(row.snapshot) if row is not None else {"engines": {}, "config": {}}
        registry = self._engines.registry
        before = {
            "current": current,
            "engines": {
                e: (c.target_id if (c := registry.slot(e).active) is not None else None)
                for e in snapshot["engines"]
            },
            "config": {kind: self._holder.current.get(kind).version for kind in snapshot["config"]},
        }
        after = {
            "current": target_version,
            "engines": {e: t["targetId"] for e, t in snapshot["engines"].items()},
            "config": snapshot["config"],
        }
        return {
            "currentVersion": event,
            "target": f"release:{target_version}",
            "before": before,
            "after": after,
        }

    def rollback(
        self,
        *,
        principal: Principal,
        target_version: str,
        request_id: str,
        expect_event: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Put the engines and the config of `target_version` back, all or nothing (409 if an engine
        refuses; then nothing changed). `expect_event`: refuse (409 releases.moved) unless no release
        was created or rolled back since (a change request's base, ADR 0026)."""
        event, current = self.rollback_base(target_version)
        if expect_event is not None and event != expect_event:
            raise Conflict(
                "releases.moved",
                f"the releases moved since this rollback was asked for (current now: {current}); "
                "nothing changed",
                extra={"currentVersion": event},
            )
        with self._db.read() as session:
            row = self._store.find(session, target_version)
        if row is None:  # gone between two reads: releases are never deleted, so never
            raise NotFound("releases.not_found", f"no release {target_version!r}")
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
        details = {**(details or {}), "kind": "rollback", "from": current, "to": row.version}
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
