"""Versioned-document use cases: change with If-Match, history, bootstrap, load into the snapshot."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session

from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Principal
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import SYSTEM_ACTOR, Action, Actor
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.errors import Invalid, PreconditionFailed
from trainer_ops.infra.clock import Clock
from trainer_ops.versions.snapshot import SnapshotHolder, VersionedDocument, make_etag
from trainer_ops.versions.store import VersionStore

MAX_HISTORY_PAGE = 200

# Each document's reasons, spelled out instead of built from its kind: every reason is a stable token
# listed in ADR 0002's table, and tests/unit/test_error_table.py finds them here. A new kind of
# document adds its rows (a missing one is a KeyError, found by the first test that uses the kind).
_MISSING = {
    "model_config": "model_config.missing",
    "features": "features.missing",
    "limits": "limits.missing",
    "places": "places.missing",
    "policy": "policy.missing",
}
_STALE = {
    "model_config": "model_config.stale",
    "features": "features.stale",
    "limits": "limits.stale",
    "places": "places.stale",
    "policy": "policy.stale",
}
_NO_SUCH_VERSION = {
    "model_config": "model_config.no_such_version",
    "features": "features.no_such_version",
    "limits": "limits.no_such_version",
}
_INVALID = {"model_config": "model_config.invalid", "limits": "limits.invalid"}  # DocumentEditor's kinds


@dataclass(frozen=True)
class Change:
    """The new whole document, and the touched part before and after (for history and audit)."""

    document: dict[str, Any]
    target: str
    before: Any
    after: Any
    # Joins the audit entry's details: e.g. `scope`, the place a feature override is for (ADR 0027).
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryPage:
    items: list[dict[str, Any]]
    next_cursor: int | None


class DocumentService:
    def __init__(
        self,
        *,
        audit: AuditService,
        clock: Clock,
        store: VersionStore | None = None,
        field_defaults: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """`field_defaults`: per kind, top-level fields a newer release added, with the value a stored
        version written before them reads as (no data migration; the next change stores them)."""
        self._audit = audit
        self._clock = clock
        self._store = store or VersionStore()
        self._field_defaults = dict(field_defaults or {})

    def _parse(self, kind: str, stored: str) -> dict[str, Any]:
        defaults = self._field_defaults.get(kind)
        document: dict[str, Any] = orjson.loads(stored)
        return {**defaults, **document} if defaults else document

    def load(self, session: Session, kinds: list[str]) -> list[VersionedDocument]:
        docs = []
        for kind in kinds:
            row = self._store.latest(session, kind)
            if row is not None:
                docs.append(VersionedDocument.of(kind, row.version, self._parse(kind, row.document)))
        return docs

    def latest_versions(self, session: Session) -> dict[str, int]:
        return self._store.latest_versions(session)

    def bootstrap(self, session: Session, defaults: dict[str, dict[str, Any]]) -> None:
        """Write version 1 of every document the store does not have yet."""
        for kind, document in defaults.items():
            if self._store.latest(session, kind) is None:
                self._write(
                    session,
                    kind=kind,
                    version=1,
                    actor=SYSTEM_ACTOR,
                    request_id="bootstrap",
                    change=Change(document, kind, None, document),
                )

    def change(
        self,
        session: Session,
        *,
        kind: str,
        actor: Actor,
        if_match: frozenset[int] | None,
        apply: Callable[[dict[str, Any]], Change],
        request_id: str,
        action: Action = Action.UPDATE_CONFIG,
        details: dict[str, Any] | None = None,
    ) -> VersionedDocument:
        """Apply `apply` to the current document and store the result as the next version.
        `details` join the audit entry's (a change request's id, a bypass's reason).

        Runs in a batch of the writer, serialised with every other audited change, so two writers never
        both become version N+1.
        A change that changes nothing writes nothing and returns the current version.
        """
        row = self._store.current(session, kind)
        if row is None:
            raise Invalid(_MISSING[kind], f"the store has no {kind} document; run `trainer-ops db upgrade`")
        version, stored = row
        if if_match is not None and version not in if_match:
            asked = ", ".join(str(v) for v in sorted(if_match)) or "no version this server issued"
            raise PreconditionFailed(
                _STALE[kind],
                f"If-Match names {asked} but the current version is {version}; read it again and retry",
                extra={"currentVersion": version},
            )
        current = self._parse(kind, stored)
        change = apply(self._parse(kind, stored))  # a second parse: a cheaper deep copy
        if change.document == current:
            return VersionedDocument.of(kind, version, current)
        return self._write(
            session,
            kind=kind,
            version=version + 1,
            actor=actor,
            request_id=request_id,
            change=change,
            action=action,
            details=details,
        )

    def restore(
        self, session: Session, *, kind: str, version: int, actor: Actor, request_id: str, action: Action
    ) -> VersionedDocument:
        """Make the document of `version` current again, as a new version (history is never rewritten)."""
        row = self._store.at(session, kind, version)
        if row is None:
            raise Invalid(_NO_SUCH_VERSION[kind], f"{kind} has no version {version}")
        old = self._parse(kind, row.document)
        return self.change(
            session,
            kind=kind,
            actor=actor,
            if_match=None,
            apply=lambda current: Change(old, f"{kind}:restore-v{version}", current, old),
            request_id=request_id,
            action=action,
        )

    def _write(
        self,
        session: Session,
        *,
        kind: str,
        version: int,
        actor: Actor,
        request_id: str,
        change: Change,
        action: Action = Action.UPDATE_CONFIG,
        details: dict[str, Any] | None = None,
    ) -> VersionedDocument:
        body = orjson.dumps(change.document)
        what = {"target": change.target, "before": change.before, "after": change.after}
        self._store.insert(
            session,
            (
                kind,
                version,
                body.decode(),
                orjson.dumps(what).decode(),
                int(self._clock.now() * 1000),
                actor.user_id,
                actor.role,
                request_id,
            ),
        )
        self._audit.append(
            session,
            actor=actor,
            action=action,
            target=change.target,
            before=change.before,
            after=change.after,
            request_id=request_id,
            details={**change.details, **(details or {}), "kind": kind, "version": version},
        )
        # The bytes just stored are the snapshot's body too: the document is serialised once.
        return VersionedDocument(kind, version, change.document, body, make_etag(version))

    def history(self, session: Session, kind: str, *, cursor: int | None, limit: int) -> HistoryPage:
        if not 1 <= limit <= MAX_HISTORY_PAGE:
            raise Invalid(
                "history.bad_limit",
                f"limit must be between 1 and {MAX_HISTORY_PAGE}",
                errors=[{"field": "limit", "message": f"must be 1 to {MAX_HISTORY_PAGE}"}],
            )
        rows = self._store.history(session, kind, before_version=cursor, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        items = []
        for row in rows:
            change = orjson.loads(row.change)
            items.append(
                {
                    "version": row.version,
                    "at": row.created_at_ms // 1000,
                    "actor": {"userId": row.actor_user_id, "role": row.actor_role},
                    "target": change["target"],
                    "before": change["before"],
                    "after": change["after"],
                    "requestId": row.request_id,
                    "document": orjson.loads(row.document),
                }
            )
        return HistoryPage(items=items, next_cursor=rows[-1].version if more and rows else None)


class DocumentEditor:
    """Read and change one whole-document setting (model config, limits): the shared use cases."""

    def __init__(
        self,
        *,
        kind: str,
        target: str,
        database: Database,
        writer: BatchWriter,
        documents: DocumentService,
        holder: SnapshotHolder,
        check: Callable[[dict[str, Any]], list[dict[str, str]]] | None = None,
    ) -> None:
        self.kind = kind
        self._target = target
        self._db = database
        self._writer = writer
        self._documents = documents
        self._holder = holder
        self._check = check

    def current(self) -> VersionedDocument:
        return self._holder.current.get(self.kind)

    def update(
        self,
        *,
        principal: Principal,
        changes: dict[str, Any],
        if_match: frozenset[int] | None,
        request_id: str,
    ) -> VersionedDocument:
        doc = self._writer.run(self._unit(principal, changes, if_match, request_id))
        self._holder.publish(doc)
        return doc

    async def update_async(
        self,
        *,
        principal: Principal,
        changes: dict[str, Any],
        if_match: frozenset[int] | None,
        request_id: str,
    ) -> VersionedDocument:
        """`update` for the API's route, awaited on the event loop (no pool thread waits for the
        commit, ADR 0031). Publishing the new snapshot is in-memory work only."""
        doc = await self._writer.run_async(self._unit(principal, changes, if_match, request_id))
        self._holder.publish(doc)
        return doc

    def _unit(
        self, principal: Principal, changes: dict[str, Any], if_match: frozenset[int] | None, request_id: str
    ) -> Callable[[Session], VersionedDocument]:
        actor = actor_of(principal)
        return lambda session: self._documents.change(
            session,
            kind=self.kind,
            actor=actor,
            if_match=if_match,
            apply=lambda document: self.change_of(document, changes),
            request_id=request_id,
        )

    def change_of(self, document: dict[str, Any], changes: dict[str, Any]) -> Change:
        """`changes` merged into `document`, checked (422): pure, so a change request can preview it."""
        merged = {**document, **changes}
        errors = self._check(merged) if self._check else []
        if errors:
            names = ", ".join(e["field"] for e in errors)
            raise Invalid(_INVALID[self.kind], f"invalid field(s): {names}", errors=errors)
        touched = sorted(k for k in changes if document.get(k) != changes[k])
        return Change(
            merged, self._target, {k: document.get(k) for k in touched}, {k: merged[k] for k in touched}
        )

    def history(self, *, cursor: int | None, limit: int) -> HistoryPage:
        with self._db.read() as session:
            return self._documents.history(session, self.kind, cursor=cursor, limit=limit)
